"""The OpenVINO backend: the same exported k-step graph as the ONNX backend (one cache, see
onnx_export.py), compiled by Intel's OpenVINO runtime for the CPU (any x86 or ARM CPU, Intel or not)
or, where present, an Intel GPU or NPU.

On the CPU it runs with the latency hint (one request at a time, all cores on it), the number of threads
the machine has, and without pinning threads to cores: pinned, a busy neighbour process on one core
stalled every step behind it (4.6-7 fps instead of 24 on a 2-core machine); unpinned, the scheduler moves
the work and the step slows in proportion.
"""
from __future__ import annotations

import logging
import os
import sys

from live.backends.onnx_export import ExportedStepBackend
from live.config import DreamSettings

log = logging.getLogger("live-dream")


def import_openvino():
    """OpenVINO's runtime without its model-conversion tools: importing those (`import openvino` does, for
    `openvino.convert_model`) sends a usage event to Google Analytics and writes a client id into ~/intel
    unless the user opted out beforehand. live-dream needs only the runtime; openvino imports fine without
    them (it skips them on ImportError, which a None entry in sys.modules gives)."""
    sys.modules.setdefault("openvino.tools.ovc", None)
    import openvino
    return openvino


def cpu_settings() -> dict:
    # f32: left to itself the CPU plugin computes in a lower precision where the CPU offers one, and the
    # step then points elsewhere (cosine 0.88 to eager PyTorch's step; 1.0000 in f32, at the same speed)
    return {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": os.cpu_count() or 1,
            "ENABLE_CPU_PINNING": False, "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": "f32"}


def openvino_devices() -> list[str]:
    """The OpenVINO devices this machine has, CPU first (GPU and NPU: Intel hardware only)."""
    found = import_openvino().Core().available_devices
    return [d for d in ("CPU", "GPU", "NPU") if any(f == d or f.startswith(d + ".") for f in found)]


class OpenVinoBackend(ExportedStepBackend):
    runtime = "openvino"

    def __init__(self, net, objective, settings: DreamSettings, size: tuple[int, int], steps: int = 1,
                 device: str = "CPU"):
        self.device = device
        self._core = import_openvino().Core()
        super().__init__(net, objective, settings, size, steps)
        self.name = f"openvino-{device.lower()}"

    def _load(self, path):
        config = cpu_settings() if self.device == "CPU" else {"PERFORMANCE_HINT": "LATENCY",
                                                              "INFERENCE_PRECISION_HINT": "f32"}
        return self._core.compile_model(str(path), self.device, config).create_infer_request()

    def _run(self, request, x, step_size):
        return request.infer({"image": x, "step_size": step_size})[0].copy()
