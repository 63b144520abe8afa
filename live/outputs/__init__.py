"""Where dreamed frames go: the window, the recording, snapshots, NDI, a virtual camera, Spout, Syphon.

May import: numpy, OpenCV (resizing), pygame, PyAV, live.config, live.errors, live.core.files, live.core.imageio,
live.control (actions and the Status a HUD shows). Never: torch, the dream maths or the backends — an output takes uint8 RGB frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from live.outputs.contract import Output
from live.outputs.ndi import NdiSender
from live.outputs.recorder import VideoRecorder
from live.outputs.texture_share import SpoutOutput, SyphonOutput
from live.outputs.virtualcam import VirtualCamera
from live.outputs.window import Window

__all__ = ["OUTPUTS", "Output", "OutputKind", "wanted"]


@dataclass(frozen=True)
class OutputKind:
    name: str
    wanted: Callable[[object, bool], bool]  # (config, headless): do the settings ask for it?
    build: Callable[[object, bool, tuple], Output]  # (config, realtime, the run's inputs) -> the output


# Frames go to the outputs in this order; the first sets the size the dream is upscaled to. A new output
# is one more entry (and its settings section in config.py).
OUTPUTS = {kind.name: kind for kind in (
    OutputKind("window", lambda config, headless: not headless,
               lambda config, realtime, inputs: Window(config.display, installation=config.installation.enabled)),
    OutputKind("recorder", lambda config, headless: bool(config.record.path),
               lambda config, realtime, inputs: VideoRecorder(config.record.path, config.record.fps,
                                                              (config.record.width, config.record.height),
                                                              realtime, inputs)),
    OutputKind("ndi", lambda config, headless: bool(config.ndi.output),
               lambda config, realtime, inputs: NdiSender(config.ndi.output, (config.ndi.width, config.ndi.height),
                                                          config.ndi.fps)),
    OutputKind("virtualcam", lambda config, headless: config.virtualcam.enabled,
               lambda config, realtime, inputs: VirtualCamera((config.virtualcam.width, config.virtualcam.height),
                                                              config.virtualcam.fps, config.virtualcam.device)),
    OutputKind("spout", lambda config, headless: bool(config.share.spout),
               lambda config, realtime, inputs: SpoutOutput(config.share.spout,
                                                            (config.share.width, config.share.height))),
    OutputKind("syphon", lambda config, headless: bool(config.share.syphon),
               lambda config, realtime, inputs: SyphonOutput(config.share.syphon,
                                                             (config.share.width, config.share.height))),
)}


def wanted(config, headless: bool, realtime: bool, inputs: tuple) -> list[Output]:
    """The outputs the settings ask for, built (each checks its settings now: one line, nothing created)."""
    return [kind.build(config, realtime, inputs) for kind in OUTPUTS.values() if kind.wanted(config, headless)]
