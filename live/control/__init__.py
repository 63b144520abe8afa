"""Controlling the show: actions (what any control surface asks for), the immutable show state they
change, the surfaces that produce them (keys, OSC, MIDI, web), and what modulates it over time (beat,
Link, audio levels, opening hours).

May import: the standard library, numpy (audio band levels), live.config, live.errors, the surfaces'
own libraries. Never: torch, OpenCV, pygame, PyAV — control is plain values, so any surface can
produce them.
"""
