"""The recording: dreamed frames into a video file.

It is H.264 in *fragmented* MP4 (PyAV): each second of video is a self-contained fragment, handed to
the operating system as soon as it is complete, so whatever ends the run (a full disk, a second Ctrl-C,
SIGKILL, a power cut) leaves every whole second before it playable. It is written to a hidden
`.NAME.PID.partial.mp4` beside the target, created with the first frame, and renamed over the target when
the run ends; a partial left by a killed run is recovered as `NAME.recovered-TIME.mp4` (or removed, if it
holds nothing) the next time that target is recorded to. A lock beside the target (`.NAME.mp4.lock`) keeps
a second run from recording to the same file: it is refused at start instead of replacing the other's file.
"""
from __future__ import annotations

import logging
import os
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from live.outputs.contract import Output
from live.core.files import OutputLock, check_output, give_usual_permissions, partial_path
from live.core.imageio import fit_cover
from live.core.videofiles import RECORD_SUFFIXES, recover_partials, salvage

log = logging.getLogger("live-dream")
# empty_moov + frag_keyframe: no index at the end to lose; default_base_moof: what players expect.
FRAGMENTED_MP4 = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
# Each fragment goes to the operating system as soon as the muxer has written it: otherwise FFmpeg's
# write buffer holds the last ~256 KB (many seconds of video), which a SIGKILL or a crash loses.
FLUSHED = {"flush_packets": "1"}


class VideoRecorder(Output):
    """An output (open / send / close). `realtime`: repeat or skip frames so the video plays at the speed it was seen; otherwise every
    frame is written once. A write that fails (disk full, device gone) stops the recording, keeps what
    was written before it, and sets `error`; the caller decides whether the show goes on."""

    def __init__(self, path: str, fps: float, size: tuple[int, int], realtime: bool = True, inputs: tuple = ()):
        self.path = check_output(path, "record to", RECORD_SUFFIXES, inputs)
        self.fps, self.realtime = fps, realtime
        self.size = (max(2, size[0] // 2 * 2), max(2, size[1] // 2 * 2))  # H.264 4:2:0 needs even sides
        self.tmp: Path | None = None
        self.closed = False
        self.frames = 0  # frames handed to the encoder
        self.error: str | None = None
        self._container = self._stream = None
        self._start: float | None = None
        self.lock = OutputLock(self.path, "record to")
        self.lock.check()  # another run recording there: one line now, before the network is prepared

    name = "recorder"

    def open(self) -> None:
        """The lock, held until close(); the file is created with the first frame, so a run stopped before
        it leaves none."""
        self.lock.acquire()
        recover_partials(self.path)  # holding the lock: no other run is writing this target

    def send(self, rgb: np.ndarray, status=None) -> None:
        self.write(rgb)

    def _open(self) -> None:
        import av
        self.tmp = partial_path(self.path)
        self._container = av.open(str(self.tmp), "w", format="mp4", options={**FRAGMENTED_MP4, **FLUSHED})
        rate = Fraction(self.fps).limit_denominator(1001)
        stream = self._container.add_stream("libx264", rate=rate, options={"preset": "superfast", "tune": "zerolatency"})
        stream.width, stream.height = self.size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = 1 / rate
        stream.codec_context.gop_size = max(1, round(self.fps))  # a keyframe, so a fragment, every second
        self._stream = stream

    def write(self, rgb: np.ndarray) -> None:
        if self.error:
            return
        rgb = fit_cover(rgb, self.size)
        copies = 1
        if self.realtime:
            now = time.monotonic()
            self._start = self._start or now
            copies = max(0, int((now - self._start) * self.fps) + 1 - self.frames) if self.frames else 1
        if not copies:
            return
        import av
        try:
            if self._container is None:
                self._open()
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            for _ in range(copies):
                frame.pts = self.frames
                self._container.mux(self._stream.encode(frame))
                self.frames += 1
        except (OSError, av.FFmpegError) as exc:
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        reason = getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
        self.error = self.error or f"writing {self.path} failed ({reason})"

    def close(self) -> Path | None:
        """Finish the file and move it into place; returns the path, or None if nothing was kept.
        After a failure it keeps the whole fragments written before it."""
        try:
            return self._finish()
        finally:
            self.lock.release()

    def _finish(self) -> Path | None:
        if self._container is None or self.closed:
            return self.path if self.closed and self.frames else None
        self.closed = True
        import av
        try:
            if not self.error:
                self._container.mux(self._stream.encode(None))  # the encoder's last frames
        except (OSError, av.FFmpegError) as exc:
            self._fail(exc)
        try:
            self._container.close()
        except (OSError, av.FFmpegError) as exc:
            self._fail(exc)
        if self.error:
            self.frames = salvage(self.tmp)
        if not self.frames:
            self.tmp.unlink(missing_ok=True)
            return None
        give_usual_permissions(self.tmp)
        os.replace(self.tmp, self.path)
        return self.path

    @property
    def seconds(self) -> float:
        return self.frames / self.fps
