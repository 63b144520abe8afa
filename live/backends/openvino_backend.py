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

import numpy as np

from live.backends.onnx_export import exported_graph
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


class OpenVinoBackend:
    def __init__(self, net, objective, settings: DreamSettings, size: tuple[int, int], steps: int = 1,
                 device: str = "CPU"):
        ov = import_openvino()
        self.net, self.objective, self.settings, self.size, self.device = net, objective, settings, size, device
        self._core = ov.Core()
        self.requests = {steps: self._request(steps)}
        if steps != 1:  # other step counts (keys, tuner) repeat the 1-step graph: have it ready, no pause later
            self.requests[1] = self._request(1)
        self.name = f"openvino-{device.lower()}"

    def _request(self, steps: int):
        config = cpu_settings() if self.device == "CPU" else {"PERFORMANCE_HINT": "LATENCY",
                                                              "INFERENCE_PRECISION_HINT": "f32"}

        def load(path):
            return self._core.compile_model(str(path), self.device, config).create_infer_request()
        return exported_graph(self.net, self.objective, self.settings, self.size, steps, load)

    def steps(self, image: np.ndarray, steps: int, step_size: float) -> np.ndarray:
        if steps <= 0:
            return image
        h, w = image.shape[:2]
        if (w, h) != self.size:
            raise ValueError(f"openvino graph is for {self.size[0]}x{self.size[1]}, got {w}x{h}")
        x = np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)
        feed_size = np.array(step_size, dtype=np.float32)
        request, repeats = (self.requests[steps], 1) if steps in self.requests else (self.requests[1], steps)
        for _ in range(repeats):  # another step count than exported: repeat the one-step graph
            x = request.infer({"image": x, "step_size": feed_size})[0].copy()
        return x[0].transpose(1, 2, 0)
