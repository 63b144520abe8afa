"""NDI out (cyndilib, the `ndi` extra, which bundles the NDI runtime): send the shown picture as an
NDI source that Resolume, TouchDesigner, OBS or a vision mixer can take, and take a mixer's NDI output as
the camera (`--source ndi:NAME`).

NDI finds sources with mDNS (avahi-daemon on Linux). Where there is none (a container, a locked-down
network), point NDI_CONFIG_DIR at a folder with ndi-config.v1.json: {"ndi": {"networks": {"ips": "..."}}}
listing the machines to look at (127.0.0.1 for this one). NDI is a network protocol: a sender listens
on all interfaces (TCP 5960 and up) so that other machines can receive it.
"""
from __future__ import annotations

import logging
from fractions import Fraction

import cv2
import numpy as np

from live.outputs.contract import Output
from live.errors import require_extra
from live.core.imageio import fit_cover

log = logging.getLogger("live-dream")
INSTALL = "NDI needs the ndi extra: pip install -e '.[ndi]' (cyndilib, with the NDI runtime)"


class NdiSender(Output):
    """An output: each frame sent as RGBA at `size`; sending never waits for the frame clock."""
    name = "ndi"

    def __init__(self, source_name: str, size: tuple[int, int], fps: float):
        require_extra("cyndilib", INSTALL)  # (and loads the NDI runtime)
        self.source_name, self.size, self.fps = source_name, size, fps
        self.error: str | None = None
        self.sender = None

    def open(self) -> None:
        from cyndilib.sender import Sender
        from cyndilib.video_frame import VideoSendFrame
        from cyndilib.wrapper.ndi_structs import FourCC
        self.sender = Sender(self.source_name, clock_video=False)  # the show keeps its own pace
        frame = VideoSendFrame()
        frame.set_resolution(*self.size)
        frame.set_frame_rate(Fraction(self.fps).limit_denominator(1001))
        frame.set_fourcc(FourCC.RGBA)
        self.sender.set_video_frame(frame)
        self.sender.open()
        log.info("NDI: sending '%s' at %dx%d", self.sender.source.name, *self.size)

    def send(self, rgb: np.ndarray, status=None) -> None:
        try:
            self.sender.write_video(cv2.cvtColor(fit_cover(rgb, self.size), cv2.COLOR_RGB2RGBA).reshape(-1))
        except Exception as exc:  # the show goes on without this output
            self.error = f"NDI send failed ({exc})"

    def close(self):
        if self.sender is not None:
            self.sender.close()
            self.sender = None
        return None
