"""The running installation: latest-value slots, the capture thread, the dream worker, the frame-rate
tuner, run figures, and the pipeline that wires them to the outputs and the control bus.

May import anything in live. Nothing else in live imports the show except the command line and bench.
"""
