"""Snapshots: the shown frame as a PNG, written atomically, on a key press (or any surface's action)."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np

from live.errors import UserError
from live.core.imageio import write_image


def write_snapshot(folder: str, rgb: np.ndarray) -> Path:
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"cannot write a snapshot into {folder}: it is a file; set record.snapshot_dir "
                        f"to a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the snapshot folder {folder} ({exc.strerror})") from None
    path = folder / f"dream-{datetime.now():%Y%m%d-%H%M%S-%f}.png"
    write_image(path, rgb)
    return path
