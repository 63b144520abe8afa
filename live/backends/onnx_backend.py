"""The ONNX backend: k steps traced from the same step function into one ONNX graph (cached under the
models folder, see onnx_export.py), run by ONNX Runtime with TensorRT (fp16), CUDA or CPU, whichever
this machine has.
"""
from __future__ import annotations

import logging
import os

import numpy as np
import torch

from live.backends.onnx_export import exported_graph
from live.config import DreamSettings
from live.files import models_dir

log = logging.getLogger("live-dream")


def onnx_providers() -> list:
    import onnxruntime as ort
    available = ort.get_available_providers()
    wanted = []
    if torch.cuda.is_available():  # asking for GPU providers without CUDA only logs errors
        if "TensorrtExecutionProvider" in available:
            cache = str(models_dir() / "cache" / "tensorrt")
            wanted.append(("TensorrtExecutionProvider", {"trt_fp16_enable": True, "trt_engine_cache_enable": True,
                                                         "trt_engine_cache_path": cache}))
        if "CUDAExecutionProvider" in available:
            wanted.append("CUDAExecutionProvider")
    return wanted + ["CPUExecutionProvider"]


class OnnxBackend:
    def __init__(self, net, objective, settings: DreamSettings, size: tuple[int, int], steps: int = 1):
        import onnxruntime as ort
        self.net, self.objective, self.settings, self.size = net, objective, settings, size
        self.providers = onnx_providers()
        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        # Idle threads that spin steal the CPU from capture and display threads in a live pipeline.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self._options, self._ort = options, ort
        self.sessions = {steps: self._session(steps)}
        if steps != 1:  # other step counts (keys, tuner) repeat the 1-step graph: have it ready, no pause later
            self.sessions[1] = self._session(1)
        provider = self.sessions[steps].get_providers()[0].replace("ExecutionProvider", "").lower()
        self.name = f"onnx-{provider}" + ("-fp16" if provider == "tensorrt" else "")

    def _session(self, steps: int):
        def load(path):
            return self._ort.InferenceSession(str(path), self._options, providers=self.providers)
        return exported_graph(self.net, self.objective, self.settings, self.size, steps, load)

    def steps(self, image: np.ndarray, steps: int, step_size: float) -> np.ndarray:
        if steps <= 0:
            return image
        h, w = image.shape[:2]
        if (w, h) != self.size:
            raise ValueError(f"onnx graph is for {self.size[0]}x{self.size[1]}, got {w}x{h}")
        x = np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)
        feed_size = np.array(step_size, dtype=np.float32)
        if steps in self.sessions:
            x = self.sessions[steps].run(None, {"image": x, "step_size": feed_size})[0]
        else:  # another step count than exported: repeat the one-step graph
            for _ in range(steps):
                x = self.sessions[1].run(None, {"image": x, "step_size": feed_size})[0]
        return x[0].transpose(1, 2, 0)
