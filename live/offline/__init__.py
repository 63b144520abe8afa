"""Dreaming files, not a live camera: `still` (one photo) and `render` (a whole video, every frame).

May import: live.dream, live.backends, live.backends.engine, live.core.imageio, live.core.files, PyAV, torch. Never:
pygame, the show's threads, the control surfaces.
"""
