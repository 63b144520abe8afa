"""The ONNX backend: k steps traced from the same step function into one ONNX graph (cached under the
models folder, see onnx_export.py), run by ONNX Runtime with TensorRT (fp16), CUDA or CPU, whichever
this machine has.
"""
from __future__ import annotations

import logging
import os

import torch

from live.backends.onnx_export import ExportedStepBackend
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


class OnnxBackend(ExportedStepBackend):
    runtime = "onnx"

    def __init__(self, net, objective, settings: DreamSettings, size: tuple[int, int], steps: int = 1):
        import onnxruntime as ort
        self.providers = onnx_providers()
        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        # Idle threads that spin steal the CPU from capture and display threads in a live pipeline.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self._options, self._ort = options, ort
        super().__init__(net, objective, settings, size, steps)
        provider = self.graphs[steps].get_providers()[0].replace("ExecutionProvider", "").lower()
        self.name = f"onnx-{provider}" + ("-fp16" if provider == "tensorrt" else "")

    def _load(self, path):
        return self._ort.InferenceSession(str(path), self._options, providers=self.providers)

    def _run(self, session, x, step_size):
        return session.run(None, {"image": x, "step_size": step_size})[0]
