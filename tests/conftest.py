"""Shared fixtures: the bundled CC0 photos and the real embedded network."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests never download weights, and never need a screen; exported graphs go to a throwaway cache.
os.environ["LIVE_DREAM_OFFLINE"] = "1"
if "LIVE_DREAM_MODELS" not in os.environ:
    import tempfile
    os.environ["LIVE_DREAM_MODELS"] = tempfile.mkdtemp(prefix="live-dream-models-")
if "XDG_STATE_HOME" not in os.environ:  # installation mode keeps the show's state: never in the real home
    import tempfile
    os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="live-dream-state-")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

MEDIA = Path(__file__).resolve().parent.parent / "live" / "media"


@pytest.fixture(scope="session")
def media() -> Path:
    return MEDIA


@pytest.fixture(scope="session")
def lite0():
    from live.dream.zoo import get_spec
    return get_spec("lite0")


@pytest.fixture(scope="session")
def lite0_model(lite0):
    from live.dream.zoo import build_network
    return build_network(lite0)


def photo(name: str, size: tuple[int, int] | None = None):
    """A bundled photo as a 1x3xHxW tensor in [0, 1], optionally resized to (w, h)."""
    from PIL import Image
    from live.core.imageio import read_image
    from live.dream.tensors import to_tensor
    rgb = read_image(MEDIA / f"{name}.png")
    if size:
        import numpy as np
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.BICUBIC))
    return to_tensor(rgb)
