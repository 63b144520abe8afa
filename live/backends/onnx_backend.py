"""The ONNX backend: k steps traced from the same step function into one ONNX graph (cached under the
models folder, see onnx_export.py), run by ONNX Runtime with TensorRT (fp16), CUDA or CPU, whichever
this machine has.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from live.config import DreamSettings
from live.files import models_dir
from live.stopping import raise_if_stopping

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


def graph_key(spec_name: str, objective, settings: DreamSettings, size: tuple[int, int], steps: int) -> str:
    """Cache name: network, objective (guide features included), regularisers, resolution, step count,
    versions."""
    regularisers = f"{settings.smoothing}|{settings.smoothing_sigma}|{settings.tv_weight}"
    h = hashlib.sha1(f"{objective}|{regularisers}|{torch.__version__}|v2".encode())
    for _, term in objective.terms:
        if getattr(term, "features", None) is not None:
            h.update(term.features.cpu().numpy().tobytes())
    safe = "".join(c if c.isalnum() else "_" for c in str(objective))[:40]
    return f"{spec_name}-{safe}-{size[0]}x{size[1]}-k{steps}-{h.hexdigest()[:10]}.onnx"


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
        path = models_dir() / "cache" / "onnx" / graph_key(self.net.spec.name, self.objective, self.settings, self.size,
                                                            steps)
        if not path.is_file():
            self._export(steps, path)
            return self._ort.InferenceSession(str(path), self._options, providers=self.providers)
        try:
            return self._ort.InferenceSession(str(path), self._options, providers=self.providers)
        except Exception as exc:  # a truncated or damaged cache file: rebuild it once, not fall back for ever
            raise_if_stopping()
            log.warning("cached graph %s cannot be loaded (%s); exporting it again", path.name,
                        str(exc).splitlines()[0][:120] if str(exc) else exc.__class__.__name__)
            path.unlink(missing_ok=True)
            self._export(steps, path)
            return self._ort.InferenceSession(str(path), self._options, providers=self.providers)

    def _export(self, steps: int, path: Path) -> None:
        from live.backends.onnx_export import export_steps
        log.info("exporting %s %s at %dx%d, %d step(s), to ONNX (once; cached in %s)...",
                 self.net.spec.name, self.objective, *self.size, steps, path.parent)
        t0 = time.perf_counter()
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            export_steps(self.net, self.objective, self.settings, self.size, steps, path)
        log.info("exported in %.1f s", time.perf_counter() - t0)

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
