"""Real test material for the live pipeline: videos made from the bundled photos, and the real dreamer."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from live.imageio import read_image
from conftest import MEDIA


def scaled(name: str, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(read_image(MEDIA / f"{name}.png"), size, interpolation=cv2.INTER_AREA)


def moving_cat_frames(n: int, size=(160, 120), speed=2):
    """The cat's face (a real photo) sliding right over the coffee photo: a moving object on a still scene.
    Yields (frame uint8 RGB, x of the cat's left edge)."""
    w, h = size
    background = scaled("coffee", size)
    cat = scaled("chelsea", (w // 2, h // 2))
    for t in range(n):
        frame = background.copy()
        x = 8 + speed * t
        frame[h // 4: h // 4 + cat.shape[0], x: x + cat.shape[1]] = cat[:, : max(0, min(cat.shape[1], w - x))]
        yield frame, x


def write_video(path: Path, frames, fps: float = 30.0) -> Path:
    frames = list(frames)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def read_video(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames
