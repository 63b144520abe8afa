"""Reading and writing pictures: EXIF orientation respected, files replaced atomically."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from live.errors import UserError
from live.core.files import atomic_output, check_output

WRITABLE = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
            ".tif": "TIFF", ".tiff": "TIFF"}

# A 4000x3000 photo is 12 MP and a 100 MP medium-format file still dreams (tiled) on a 24 GB machine;
# beyond that, refuse with a line before decoding rather than run out of memory (a 20000x20000 PNG
# took more than 8 GB as a source).
MAX_IMAGE_PIXELS = 100_000_000
Image.MAX_IMAGE_PIXELS = None  # read_image checks the size itself, with a line that says what to do


def read_image(path: str | Path) -> np.ndarray:
    """HxWx3 uint8 RGB, upright according to EXIF; 16-bit and floating-point images scaled to 8 bits."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"cannot read {path}: no such file")
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > MAX_IMAGE_PIXELS:
                raise UserError(f"cannot read {path}: {w}x{h} is {w * h / 1e6:.0f} megapixels, more than the "
                                f"{MAX_IMAGE_PIXELS // 1_000_000} this program takes; downscale it first")
            return _to_rgb8(ImageOps.exif_transpose(im))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UserError(f"cannot read {path}: not a readable image ({exc.__class__.__name__}); "
                        f"use a PNG, JPEG, WebP, BMP or TIFF file") from None


def _to_rgb8(im: Image.Image) -> np.ndarray:
    """Pillow's convert('RGB') clips 16-bit greyscale (mode I;16 / I) to white: scale it instead."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(im, dtype=np.float32)
        full_scale = 1.0 if im.mode == "F" and values.max(initial=0) <= 1.0 else 65535.0
        grey = np.clip(values * (255.0 / full_scale) + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    return np.asarray(im.convert("RGB")).copy()


def check_writable(path: str | Path, inputs: tuple = ()) -> Path:
    """Fail before any long work if the image cannot be written (or would replace an input)."""
    return check_output(path, "write", WRITABLE, inputs)


def write_image(path: str | Path, rgb: np.ndarray) -> None:
    path = check_writable(path)
    with atomic_output(path) as tmp:
        Image.fromarray(rgb).save(tmp, format=WRITABLE[path.suffix.lower()], quality=95)


def crop_to_aspect(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The centre of `image` with the aspect ratio of `size` (w, h): what fit_cover keeps of it."""
    w, h = size
    ih, iw = image.shape[:2]
    scale = max(w / iw, h / ih)
    cw, ch = min(iw, round(w / scale)), min(ih, round(h / scale))
    x0, y0 = (iw - cw) // 2, (ih - ch) // 2
    return image[y0:y0 + ch, x0:x0 + cw]


def fit_cover(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale and centre-crop to exactly `size` (w, h), filling it: no black bars on a gallery screen.
    An image already of that size is returned as it is (not copied)."""
    if image.shape[1::-1] == tuple(size):
        return image
    crop = crop_to_aspect(image, size)
    shrinking = crop.shape[1] > size[0]
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
