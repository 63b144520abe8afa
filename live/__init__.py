"""live-dream: real-time DeepDream for installations and live sets."""
__version__ = "0.1.0"
