"""The maths of DeepDream: the step, objectives, regularisers, networks as data, temporal carrying and
optical flow. Tensors and arrays in, tensors and arrays out.

May import: torch, torchvision, numpy, OpenCV's image functions (cv2, no GUI), live.config, live.errors,
live.core.profiling. Never: threads, pygame, PyAV, the show, the outputs or the backends — and it chooses no
device (the caller moves networks where they run). The one file it touches is the weights cache (zoo).
"""
