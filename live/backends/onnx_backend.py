"""The ONNX backend: k steps traced from the same step function into one ONNX graph (cached under the
models folder, see onnx_export.py), run by ONNX Runtime with the best provider this machine has:
TensorRT (fp16) or CUDA on an NVIDIA GPU, CoreML on a Mac, else the CPU.

The image goes to the provider's device once per frame and comes back once: between steps (another
step count than the graph's repeats it) it stays there, bound with IOBinding.
"""
from __future__ import annotations

import functools
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from live.backends.onnx_export import ExportedStepBackend
from live.config import DreamSettings
from live.core.files import models_dir

log = logging.getLogger("live-dream")
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


@functools.cache  # loading is once per process; every backend built later asks the same question
def load_tensorrt_libraries() -> str | None:
    """Load TensorRT's libraries (the `tensorrt` extra: tensorrt-cu13) into this process, so that ONNX
    Runtime's TensorRT provider finds them; None when loaded, else why not."""
    try:
        import tensorrt  # its bindings load libnvinfer, which the provider then finds by name
    except Exception as exc:  # noqa: BLE001 - any failure means the same: no TensorRT here
        return f"the TensorRT libraries do not load ({str(exc).splitlines()[0][:160] if str(exc) else exc}); " \
               f"pip install -e '.[tensorrt]'"
    libs = Path(tensorrt.__file__).resolve().parent.parent / "tensorrt_libs"
    if sys.platform == "win32" and libs.is_dir():  # Windows looks for DLLs only where it is told
        os.add_dll_directory(str(libs))
    return None


@functools.cache
def _preload_cuda_libraries() -> None:
    """CUDA and cuDNN from the nvidia-* wheels torch brought along, loaded once per process."""
    import onnxruntime as ort
    if hasattr(ort, "preload_dlls"):
        ort.preload_dlls(directory="")


def onnx_providers() -> list:
    """The providers to ask for, best first. GPU providers only where that GPU is usable: asking for
    CUDA without it only logs errors."""
    import onnxruntime as ort
    available = ort.get_available_providers()
    cache = models_dir() / "cache" / "tensorrt"
    wanted: list = []
    if torch.cuda.is_available() and any(p in available for p in GPU_PROVIDERS):
        _preload_cuda_libraries()
        if "TensorrtExecutionProvider" in available and load_tensorrt_libraries() is None:
            # fp16; engines and the layer timings cached, so only the first start builds for minutes
            wanted.append(("TensorrtExecutionProvider", {
                "trt_fp16_enable": True, "trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache),
                "trt_timing_cache_enable": True, "trt_timing_cache_path": str(cache)}))
        if "CUDAExecutionProvider" in available:
            wanted.append(("CUDAExecutionProvider", {"cudnn_conv_algo_search": "EXHAUSTIVE"}))
    if "CoreMLExecutionProvider" in available:  # macOS: the GPU and Neural Engine through Core ML
        wanted.append(("CoreMLExecutionProvider", {"ModelFormat": "MLProgram", "MLComputeUnits": "ALL"}))
    return wanted + ["CPUExecutionProvider"]


class OnnxBackend(ExportedStepBackend):
    runtime = "onnx"

    def __init__(self, net, objective, settings: DreamSettings, size: tuple[int, int], steps: int = 1,
                 providers: list | None = None):
        import onnxruntime as ort
        self.providers = onnx_providers() if providers is None else providers
        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        # Idle threads that spin steal the CPU from capture and display threads in a live pipeline.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self._options, self._ort = options, ort
        super().__init__(net, objective, settings, size, steps)
        provider = self.graphs[steps].get_providers()[0].replace("ExecutionProvider", "").lower()
        self.name = f"onnx-{provider}" + ("-fp16" if provider == "tensorrt" else "")
        # where the image lives between steps: the GPU for CUDA and TensorRT, host memory otherwise
        self.device = "cuda" if provider in ("tensorrt", "cuda") else "cpu"

    def _load(self, path):
        names = [p[0] if isinstance(p, tuple) else p for p in self.providers]
        building = "TensorrtExecutionProvider" in names
        if building:
            log.info("loading %s with TensorRT: building its engine takes minutes the first time (cached "
                     "in %s)...", path.name, models_dir() / "cache" / "tensorrt")
        t0 = time.perf_counter()
        session = self._ort.InferenceSession(str(path), self._options, providers=self.providers)
        if building:
            log.info("TensorRT ready in %.1f s", time.perf_counter() - t0)
        return session

    def _upload(self, x: np.ndarray):
        return self._ort.OrtValue.ortvalue_from_numpy(x, self.device, 0)

    def _run(self, session, x, step_size):
        binding = session.io_binding()
        binding.bind_ortvalue_input("image", x)
        binding.bind_cpu_input("step_size", step_size)
        binding.bind_output("dreamed", self.device)
        session.run_with_iobinding(binding)
        return binding.get_outputs()[0]

    def _download(self, x) -> np.ndarray:
        return x.numpy()
