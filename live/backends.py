"""Backends: the same dream step (gradient ascent without jitter) computed in different ways.

- `torch`: eager PyTorch on a copy of the network with BatchNorm folded into the convolutions and
  channels_last memory; on CUDA in fp16 (or bf16) with the objective reduced in fp32, each step
  replayed from a captured CUDA graph.
- `onnx`: k steps exported once to an ONNX graph (cached under models/cache) and run by ONNX
  Runtime with TensorRT (fp16), CUDA or CPU, whichever this machine has.
- `auto`: measures the available ones briefly and keeps the fastest; the choice is cached per machine.

Every backend takes and returns HxWx3 float32 RGB images in [0, 1].
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import platform
import statistics
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .dream import DreamSettings, ascent_direction
from .errors import UserError
from .files import read_json_dict, write_json
from .stopping import raise_if_stopping

log = logging.getLogger("live-dream")


def models_dir() -> Path:
    """Where exported graphs and measurements are cached: $LIVE_DREAM_MODELS, else ./models when
    running from the project folder, else ~/.cache/live-dream."""
    if os.environ.get("LIVE_DREAM_MODELS"):
        return Path(os.environ["LIVE_DREAM_MODELS"])
    if Path("models").is_dir():
        return Path("models")
    return Path.home() / ".cache" / "live-dream"


def to_image_tensor(image: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1)[None]


def to_image_array(x: torch.Tensor) -> np.ndarray:
    return x[0].permute(1, 2, 0).float().cpu().numpy()


# ---------------------------------------------------------------- torch

class PreparedNet(torch.nn.Module):
    """The truncated network made fast: BatchNorm folded, channels_last, optionally half precision.
    Takes fp32 images; returns fp32 activations, so objectives are always reduced in fp32."""

    def __init__(self, net, dtype=torch.float32):
        super().__init__()
        from torch.fx.experimental.optimization import fuse
        try:
            self.net = fuse(net.eval())
        except Exception as exc:  # a network torch.fx cannot trace: still correct, just unfolded
            log.warning("could not fold BatchNorm for %s (%s); using it unfolded", net.spec.name, exc)
            self.net = net
        self.net = self.net.to(memory_format=torch.channels_last, dtype=dtype)
        self.dtype = dtype

    def forward(self, image):
        acts = self.net(image.to(self.dtype).contiguous(memory_format=torch.channels_last))
        return {name: a.float() for name, a in acts.items()}


class GraphedDirection:
    """A step's direction replayed from a captured CUDA graph: one launch instead of a few hundred
    small kernels, which is where most of the time goes at live resolutions. One graph per shape."""

    def __init__(self, direction, example: torch.Tensor):
        self.input = example.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm up outside the graph: cuDNN settles on its algorithms
            for _ in range(3):
                direction(self.input)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.output = direction(self.input)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        self.input.copy_(image)
        self.graph.replay()
        return self.output  # overwritten by the next replay: use it at once


class TorchBackend:
    use_graphs = False  # EagerBaseline keeps this: it never replays graphs

    def __init__(self, net, objective, settings: DreamSettings, device: torch.device, precision: str = "auto"):
        if precision == "auto":
            precision = "fp16" if device.type == "cuda" else "fp32"
        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
        self.net = PreparedNet(net, dtype).to(device)
        self.objective, self.device = objective, device
        self.settings = replace(settings, tile=1 << 16)  # live frames are small: no tiling
        self.use_graphs, self._graphs = device.type == "cuda", {}
        self.name = f"torch-{device.type}-{precision}"

    def direction(self, x: torch.Tensor) -> torch.Tensor:
        if not self.use_graphs:
            return ascent_direction(self.net, self.objective, x, self.settings)
        shape = tuple(x.shape)
        if shape not in self._graphs:
            try:
                self._graphs[shape] = GraphedDirection(
                    lambda image: ascent_direction(self.net, self.objective, image, self.settings), x)
            except torch.cuda.OutOfMemoryError:
                raise  # the worker lowers the resolution
            except Exception as exc:  # a driver or op that cannot be captured: eager is still right
                log.warning("could not capture a CUDA graph (%s); stepping eagerly", str(exc).splitlines()[0][:200])
                self.use_graphs = False
                return self.direction(x)
        return self._graphs[shape](x)

    def steps(self, image: np.ndarray, steps: int, step_size: float) -> np.ndarray:
        x = to_image_tensor(image, self.device)
        for _ in range(steps):
            x = (x + step_size * self.direction(x)).clamp(0, 1)
        return to_image_array(x)


class EagerBaseline(TorchBackend):
    """Plain eager PyTorch, fp32, NCHW, nothing folded: the yardstick the benchmark divides by."""

    def __init__(self, net, objective, settings: DreamSettings, device: torch.device):
        self.net, self.objective, self.device = net.to(device), objective, device
        self.settings = replace(settings, tile=1 << 16)
        self.name = f"eager-{device.type}-fp32"


# ---------------------------------------------------------------- ONNX Runtime

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


def graph_key(spec_name: str, objective, size: tuple[int, int], steps: int) -> str:
    """Cache name: network, objective (guide features included), resolution, step count, versions."""
    h = hashlib.sha1(f"{objective}|{torch.__version__}|v1".encode())
    for _, term in objective.terms:
        if getattr(term, "features", None) is not None:
            h.update(term.features.cpu().numpy().tobytes())
    safe = "".join(c if c.isalnum() else "_" for c in str(objective))[:40]
    return f"{spec_name}-{safe}-{size[0]}x{size[1]}-k{steps}-{h.hexdigest()[:10]}.onnx"


class OnnxBackend:
    def __init__(self, net, objective, settings: DreamSettings, size: tuple[int, int], steps: int = 1):
        import onnxruntime as ort
        if settings.smoothing != "none" or settings.tv_weight > 0:
            raise UserError("the onnx backend does not do gradient smoothing or total variation")
        self.net, self.objective, self.size = net, objective, size
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
        path = models_dir() / "cache" / "onnx" / graph_key(self.net.spec.name, self.objective, self.size, steps)
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
        from .onnx_export import export_steps
        log.info("exporting %s %s at %dx%d, %d step(s), to ONNX (once; cached in %s)...",
                 self.net.spec.name, self.objective, *self.size, steps, path.parent)
        t0 = time.perf_counter()
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            export_steps(self.net, self.objective, self.size, steps, path)
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


# ---------------------------------------------------------------- choosing

def machine_fingerprint(device: torch.device) -> str:
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    import onnxruntime as ort
    return f"{platform.machine()}|{platform.processor()}|{os.cpu_count()}|{gpu}|torch {torch.__version__}|ort {ort.__version__}"


def build_backend(kind: str, net, objective, settings, device, size, steps, precision):
    if kind == "torch":
        return TorchBackend(net, objective, settings, device, precision)
    if kind == "onnx":
        return OnnxBackend(net, objective, settings, size, steps)
    raise UserError(f"unknown backend '{kind}'; use auto, torch or onnx")


def build_candidates(kind: str, net, objective, settings, device, size, steps, precision) -> list:
    """The backend asked for (with 'auto': every one), in order of preference. One that fails to load or
    export is left out with a one-line warning; torch always works, so the list is never empty."""
    order = ["onnx", "torch"] if kind == "auto" else [kind] + (["torch"] if kind != "torch" else [])
    built, failures = [], []
    for name in order:
        try:
            built.append(build_backend(name, net, objective, settings, device, size, steps, precision))
        except Exception as exc:
            raise_if_stopping()  # an interrupted import or export can surface as any error
            failures.append(name)
            message = str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
            log.warning("backend %s unavailable (%s); falling back to %s", name, message,
                        next((n for n in order if n not in failures), "torch"))
        if kind != "auto" and built:
            break
    return built


class PipelineTrial:
    """'auto' the first time: the candidates take turns on the live frames themselves, under the real
    load of capture, optical flow and display (a step timed alone misses it: on a 2-core CPU torch won
    alone and onnx won in the pipeline), then the fastest is kept for good and remembered."""
    WARMUP, TIMED = 2, 10  # frames per candidate

    def __init__(self, candidates: list, remember):
        self.candidates, self.remember = candidates, remember
        self.times: list[list[float]] = [[] for _ in candidates]
        self.turn, self.winner = 0, None

    @property
    def name(self) -> str:
        if self.winner:
            return self.winner.name
        return "auto (trying " + ", ".join(b.name for b in self.candidates) + ")"

    def steps(self, image: np.ndarray, steps: int, step_size: float) -> np.ndarray:
        if self.winner:
            return self.winner.steps(image, steps, step_size)
        i = self.turn % len(self.candidates)
        self.turn += 1
        t0 = time.perf_counter()
        out = self.candidates[i].steps(image, steps, step_size)
        if steps > 0 and self.turn > self.WARMUP * len(self.candidates):
            self.times[i].append((time.perf_counter() - t0) * 1000 / steps)
        if all(len(t) >= self.TIMED for t in self.times):
            ms = [statistics.median(t) for t in self.times]
            self.winner = self.candidates[ms.index(min(ms))]
            self.remember(self.winner.name, min(ms), ", ".join(
                f"{b.name} {m:.1f} ms" for b, m in sorted(zip(self.candidates, ms), key=lambda bm: bm[1])))
        return out


def choose_backend(kind: str, net, objective, settings: DreamSettings, device: torch.device,
                   size: tuple[int, int], steps: int, precision: str = "auto"):
    """The backend asked for, or with 'auto' the fastest that works here: the choice remembered for this
    machine, network, objective, size and step count, else a PipelineTrial that makes it."""
    built = build_candidates(kind, net, objective, settings, device, size, steps, precision)
    if kind != "auto" or len(built) == 1:
        return built[0]
    cache = models_dir() / "cache" / "backend-choice.json"
    key = f"{machine_fingerprint(device)}|{net.spec.name}|{objective}|{size}|{steps}|{precision}|pipeline"
    remembered = _remembered_choice(cache, key)
    if remembered and remembered["name"] in {b.name for b in built}:
        log.info("backend for %s at %dx%d: %s, %.1f ms/step in the pipeline (measured %s: %s)", objective, *size,
                 remembered["name"], remembered["ms"], remembered["when"], remembered["why"])
        return next(b for b in built if b.name == remembered["name"])

    def remember(name: str, ms: float, why: str) -> None:
        log.info("backend for %s at %dx%d: %s, the fastest in the running pipeline of %s per step", objective,
                 *size, name, why)
        choices = read_json_dict(cache)
        choices[key] = {"name": name, "ms": round(ms, 2), "why": why, "when": time.strftime("%Y-%m-%d")}
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            write_json(cache, choices)
        except (OSError, UserError) as exc:  # a read-only install still runs; it just measures again next time
            log.warning("could not cache the backend choice in %s (%s)", cache, exc)

    return PipelineTrial(built, remember)


def _remembered_choice(cache: Path, key: str) -> dict | None:
    """The remembered choice for `key`, or None; an entry that is not what we write (edited, or from
    another version) is ignored with a warning and measured again, which then overwrites it."""
    entry = read_json_dict(cache).get(key)
    if entry is None:
        return None
    valid = (isinstance(entry, dict) and isinstance(entry.get("name"), str)
             and isinstance(entry.get("ms"), (int, float)) and not isinstance(entry.get("ms"), bool))
    if not valid:
        log.warning("ignoring a damaged entry in %s; measuring the backends again", cache)
        return None
    return {"why": "", "when": "earlier", **entry}
