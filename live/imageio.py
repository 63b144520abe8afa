"""Reading and writing pictures: EXIF orientation respected, files replaced atomically."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import UserError

WRITABLE = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
            ".tif": "TIFF", ".tiff": "TIFF"}

# A 4000x3000 photo is 12 MP; refuse absurd images instead of Pillow's bomb warning/traceback.
Image.MAX_IMAGE_PIXELS = 200_000_000


def read_image(path: str | Path) -> np.ndarray:
    """HxWx3 uint8 RGB, upright according to EXIF."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"cannot read {path}: no such file")
    try:
        with Image.open(path) as im:
            return np.asarray(ImageOps.exif_transpose(im).convert("RGB")).copy()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise UserError(f"cannot read {path}: not a readable image ({exc.__class__.__name__}); "
                        f"use a PNG, JPEG, WebP, BMP or TIFF file") from None


def check_writable(path: str | Path) -> Path:
    """Fail before any long work if the output cannot be written."""
    path = Path(path)
    if path.suffix.lower() not in WRITABLE:
        raise UserError(f"cannot write {path}: unsupported format '{path.suffix}'; "
                        f"use one of {', '.join(sorted(WRITABLE))}")
    if not path.parent.is_dir():
        raise UserError(f"cannot write {path}: folder {path.parent} does not exist; create it first")
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_output(path: str | Path):
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename, so a
    reader never sees a half-written file and an interrupted write leaves the old file intact."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_image(path: str | Path, rgb: np.ndarray) -> None:
    path = check_writable(path)
    with atomic_output(path) as tmp:
        Image.fromarray(rgb).save(tmp, format=WRITABLE[path.suffix.lower()], quality=95)


def to_tensor(rgb: np.ndarray, device="cpu") -> torch.Tensor:
    if not rgb.flags.writeable:  # torch warns on read-only arrays (e.g. np.asarray of a PIL image)
        rgb = rgb.copy()
    return torch.from_numpy(rgb).to(device).permute(2, 0, 1)[None].float().div_(255)


def to_rgb(image: torch.Tensor) -> np.ndarray:
    return image[0].detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()


def fit_cover(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale and centre-crop to exactly `size` (w, h), filling it: no black bars on a gallery screen."""
    w, h = size
    ih, iw = image.shape[:2]
    scale = max(w / iw, h / ih)
    cw, ch = min(iw, round(w / scale)), min(ih, round(h / scale))
    x0, y0 = (iw - cw) // 2, (ih - ch) // 2
    crop = image[y0:y0 + ch, x0:x0 + cw]
    shrinking = cw > w
    return cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
