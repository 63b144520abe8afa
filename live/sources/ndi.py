"""NDI in: a mixer's NDI output taken as the camera (`--source ndi:NAME`); see live/outputs/ndi.py
for the runtime, discovery and the extra."""

from __future__ import annotations

import logging
import time

import numpy as np

from live.sources.contract import Source
from live.errors import UserError, require_extra

log = logging.getLogger("live-dream")
INSTALL = "NDI needs the ndi extra: pip install -e '.[ndi]' (cyndilib, with the NDI runtime)"


class NdiSource(Source):
    """A source: the newest frame of the NDI source whose name contains `name` (waits up to `wait` s for it
    to appear)."""

    def __init__(self, name: str, fps: float = 30.0, wait: float = 5.0):
        require_extra("cyndilib", INSTALL)  # (and loads the NDI runtime)
        from cyndilib.finder import Finder
        from cyndilib.receiver import Receiver
        from cyndilib.video_frame import VideoFrameSync
        from cyndilib.wrapper.ndi_recv import RecvBandwidth, RecvColorFormat
        self.finder = Finder()
        self.finder.open()
        deadline, found = time.monotonic() + wait, []
        while not found and time.monotonic() < deadline:
            self.finder.wait_for_sources(0.2)
            found = [n for n in self.finder.get_source_names() if name.lower() in n.lower()]
        if not found:
            names = self.finder.get_source_names()
            self.finder.close()
            raise UserError(f"no NDI source named '{name}' found in {wait:.0f} s; sources seen: "
                            f"{', '.join(names) or 'none'} (without mDNS, set NDI_CONFIG_DIR: see the README)")
        self.receiver = Receiver(color_format=RecvColorFormat.RGBX_RGBA, bandwidth=RecvBandwidth.highest)
        self.video = VideoFrameSync()
        self.receiver.frame_sync.set_video_frame(self.video)
        self.receiver.set_source(self.finder.get_source(found[0]))
        self.fps, self.description = fps, f"NDI '{found[0]}'"

    def read(self) -> np.ndarray | None:
        """The newest frame (HxWx3 RGB); before the first one arrives, waits for it (up to 10 s)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.receiver.is_connected():
                self.receiver.frame_sync.capture_video()
                if self.video.xres > 0:
                    w, h = self.video.get_resolution()
                    rows = self.video.get_array().reshape(h, self.video.get_line_stride())
                    return np.ascontiguousarray(rows[:, :w * 4].reshape(h, w, 4)[..., :3])
            time.sleep(0.01)
        raise UserError(f"{self.description} sent no picture for 10 s")

    def close(self) -> None:
        self.receiver.disconnect()
        self.finder.close()
