"""Where frames come from: a webcam, a video file, a folder of images, a photo, NDI, or the built-in demo.

Every source keeps the contract in `contract.py` (`Source`). Which one a `--source` spec names is
decided once, here, by the SOURCES registry: each kind says how to recognise its spec, whether it is a
live device (reopened for ever when unattended; its frames keep their size and keep changing) and how to
build it. `resilient.py` wraps any of them so that it never gives up.

May import: numpy, OpenCV (capture and decoding), cyndilib (NDI), live.config, live.errors, live.core.
Never: torch, pygame, the dream, the backends, the show, the outputs or the control surfaces.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from live.errors import UserError
from live.sources.camera import CameraSource, list_cameras
from live.sources.contract import RECONNECT_SECONDS, Source
from live.sources.demo import MEDIA, DemoSource
from live.sources.files import IMAGE_SUFFIXES, VIDEO_SUFFIXES, FolderSource, StillImageSource, VideoFileSource

log = logging.getLogger("live-dream")
__all__ = ["SOURCES", "Source", "SourceRequest", "open_source", "source_kind", "list_cameras", "MEDIA",
           "RECONNECT_SECONDS", "CameraSource", "DemoSource", "FolderSource", "StillImageSource",
           "VideoFileSource"]


@dataclass(frozen=True)
class SourceRequest:
    """What the settings ask of a source: the camera's size and rate, and how to play a file."""
    width: int
    height: int
    fps: int
    fast: bool = False  # a file as fast as it can be read, not at its own rate
    loop: bool = True
    reconnect_seconds: float = RECONNECT_SECONDS  # 0: a camera fails at once (something else reopens it)


def _auto(spec: str, r: SourceRequest) -> Source:
    if list_cameras():
        return CameraSource("0", r.width, r.height, r.fps, r.reconnect_seconds)
    log.info("no camera found: using the built-in demo source")
    return DemoSource(r.width, r.height, r.fps)


def _ndi(spec: str, r: SourceRequest) -> Source:
    from live.sources.ndi import NdiSource  # cyndilib is an extra: loaded only when NDI is asked for
    return NdiSource(spec.removeprefix("ndi:"), r.fps)


def _file(spec: str, r: SourceRequest) -> Source:
    path = Path(spec)
    if path.is_dir():
        return FolderSource(spec, r.fps, r.loop, (r.width, r.height))
    if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
        return StillImageSource(spec, r.fps, (r.width, r.height))
    if path.suffix.lower() in VIDEO_SUFFIXES or path.is_file():
        return VideoFileSource(spec, r.loop, r.fast)
    raise UserError(f"unknown source '{spec}': no such file or folder; use auto, demo, camera:N, a video file "
                    f"or a folder of images")


@dataclass(frozen=True)
class SourceKind:
    name: str
    recognises: Callable[[str], bool]
    build: Callable[[str, SourceRequest], Source]
    device: bool  # live: reopened for ever when unattended, its frames keep their size and keep changing
    faces_visitors: bool  # a camera (mirrored when capture.mirror is set), known before it is opened


# In order: the first kind that recognises a spec builds it. A new kind of source is one more entry.
SOURCES = (
    SourceKind("auto", lambda s: s == "auto", _auto, device=True, faces_visitors=True),
    SourceKind("demo", lambda s: s == "demo", lambda s, r: DemoSource(r.width, r.height, r.fps), device=True,
               faces_visitors=False),
    SourceKind("ndi", lambda s: s.startswith("ndi:"), _ndi, device=True, faces_visitors=False),
    SourceKind("camera", lambda s: s.startswith("camera:") or s.isdigit(),
               lambda s, r: CameraSource(s.removeprefix("camera:"), r.width, r.height, r.fps, r.reconnect_seconds),
               device=True, faces_visitors=True),
    SourceKind("file", lambda s: True, _file, device=False, faces_visitors=False),  # a video, folder or photo
)


def source_kind(spec: str) -> SourceKind:
    if not spec.strip():
        raise UserError("the source is empty; use auto, demo, camera:N, a video file or a folder of images")
    return next(kind for kind in SOURCES if kind.recognises(spec))


def open_source(spec: str, request: SourceRequest) -> Source:
    """'auto' (camera 0, else demo), 'demo', 'camera:N' / 'camera:NAME' / 'N', 'ndi:NAME', a video file, a
    folder, or a photo."""
    return source_kind(spec).build(spec, request)
