"""Where dreamed frames go: the window, the recording, snapshots, NDI, a virtual camera, Spout, Syphon.

May import: numpy, OpenCV (resizing), pygame, PyAV, live.config, live.errors, live.core.files, live.core.imageio,
live.control. Never: torch, the dream maths or the backends — an output takes uint8 RGB frames.
"""

from live.outputs.ndi import NdiSender
from live.outputs.recorder import VideoRecorder
from live.outputs.texture_share import SpoutOutput, SyphonOutput
from live.outputs.virtualcam import VirtualCamera
from live.outputs.window import Window

# name -> how to build it from the settings. Frames go to the outputs in this order; the first sets the
# size the dream is upscaled to. An NDI sender or a virtual camera is one more entry.
OUTPUTS = {
    "window": lambda config, realtime, inputs: Window(config.display, installation=config.installation.enabled),
    "recorder": lambda config, realtime, inputs: VideoRecorder(
        config.record.path, config.record.fps, (config.record.width, config.record.height), realtime, inputs),
    "ndi": lambda config, realtime, inputs: NdiSender(config.ndi.output, (config.ndi.width, config.ndi.height),
                                                      config.ndi.fps),
    "virtualcam": lambda config, realtime, inputs: VirtualCamera(
        (config.virtualcam.width, config.virtualcam.height), config.virtualcam.fps, config.virtualcam.device),
    "spout": lambda config, realtime, inputs: SpoutOutput(config.share.spout, (config.share.width, config.share.height)),
    "syphon": lambda config, realtime, inputs: SyphonOutput(config.share.syphon,
                                                            (config.share.width, config.share.height)),
}


def wanted_outputs(config, headless: bool) -> list[str]:
    return [name for name, on in (("window", not headless), ("recorder", bool(config.record.path)),
                                  ("ndi", bool(config.ndi.output)), ("virtualcam", config.virtualcam.enabled),
                                  ("spout", bool(config.share.spout)), ("syphon", bool(config.share.syphon))) if on]
