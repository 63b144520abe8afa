"""Dreaming files, not a live camera: `still` (one photo) and `render` (a whole video, every frame).

May import: live.dream, live.backends, live.engine, live.imageio, live.files, PyAV, torch. Never:
pygame, the show's threads, the control surfaces.
"""
