"""Controlling the show: actions (what any control surface asks for), the immutable show state they
change, and the keys that produce them.

May import: the standard library, live.config, live.errors. Never: torch, OpenCV, pygame, PyAV —
control is plain values, so any surface (keys, OSC, MIDI, web) can produce them.
"""
