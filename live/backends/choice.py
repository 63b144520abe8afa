"""Choosing a backend: the one asked for, or with `auto` the fastest that works here, measured on the
first frames of the running pipeline and remembered per machine. One that fails to load falls back
to torch with one warning line.
"""
from __future__ import annotations

import functools
import importlib.util
import logging
import os
import platform
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from live.backends.contract import Backend
from live.backends.onnx_backend import OnnxBackend
from live.backends.torch_backend import TorchBackend
from live.config import DreamSettings
from live.errors import UserError
from live.core.files import models_dir, read_json_dict, write_json
from live.core.imageio import read_image
from live.core.stopping import raise_if_stopping

log = logging.getLogger("live-dream")
MIN_AGREEMENT = 0.98  # cosine of a backend's step to the fp32 step, below which auto leaves it out
MEDIA = Path(__file__).resolve().parent.parent / "media"



def p95(times: list[float]) -> float:
    return sorted(times)[int(0.95 * (len(times) - 1))]


def machine_fingerprint(device: torch.device) -> str:
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    import onnxruntime as ort
    return f"{platform.machine()}|{platform.processor()}|{os.cpu_count()}|{gpu}|torch {torch.__version__}|ort {ort.__version__}"


def _openvino(net, objective, settings, device, size, steps, precision, target):
    from live.backends.openvino_backend import OpenVinoBackend  # a wheel for some machines only
    return OpenVinoBackend(net, objective, settings, size, steps, target or "CPU")


# name -> how to build it (net, objective, settings, device, size, steps, precision, target). A target
# after a colon picks a device of that runtime: openvino:GPU, openvino:NPU (auto's candidates).
BACKENDS = {
    "torch": lambda net, objective, settings, device, size, steps, precision, target:
        TorchBackend(net, objective, settings, device, precision),
    "onnx": lambda net, objective, settings, device, size, steps, precision, target:
        OnnxBackend(net, objective, settings, size, steps),
    "openvino": _openvino,
}


def build_backend(kind: str, net, objective, settings, device, size, steps, precision) -> Backend:
    name, _, target = kind.partition(":")
    if name not in BACKENDS:
        raise UserError(f"unknown backend '{kind}'; use auto, {', '.join(BACKENDS)}")
    return BACKENDS[name](net, objective, settings, device, size, steps, precision, target)


def auto_order(device: torch.device) -> list[str]:
    """The candidates of 'auto': on a CUDA GPU, ONNX Runtime (TensorRT, CUDA) and torch; on an Apple GPU,
    torch on MPS, ONNX Runtime (CoreML) and OpenVINO on the CPU; on a CPU, OpenVINO on the CPU and on each
    Intel GPU or NPU it finds, ONNX Runtime and torch."""
    if device.type == "cuda":
        return ["onnx", "torch"]
    has_openvino = importlib.util.find_spec("openvino") is not None  # wheels for some machines only
    if device.type == "mps":
        return ["torch", "onnx"] + (["openvino"] if has_openvino else [])
    if not has_openvino:
        return ["onnx", "torch"]
    from live.backends.openvino_backend import openvino_devices
    return ["openvino"] + [f"openvino:{d}" for d in openvino_devices() if d != "CPU"] + ["onnx", "torch"]


@functools.lru_cache(maxsize=4)
def probe_image(size: tuple[int, int]) -> np.ndarray:
    """A photo with sensor noise at this size: made once per size, shared by every candidate and preset."""
    w, h = size
    rng = np.random.default_rng(0)
    image = cv2.resize(read_image(MEDIA / "chelsea.png"), (w, h), interpolation=cv2.INTER_AREA)
    image = np.clip(image / 255.0 + rng.normal(0, 2 / 255, image.shape), 0, 1).astype(np.float32)
    image.flags.writeable = False  # shared by every caller
    return image


def step_direction(backend, size: tuple[int, int]) -> np.ndarray:
    """Where one step of `backend` moves the probe image."""
    image = probe_image(size)
    return np.asarray(backend.steps(image.copy(), 1, 0.03), np.float64).ravel() - image.ravel()


def step_agreement(backend, reference, size: tuple[int, int], reference_direction=None) -> float:
    """Cosine between one step of `backend` and of the fp32 reference on the probe image: a half-precision
    or otherwise approximate runtime must point the dream the same way."""
    a = step_direction(backend, size)
    b = step_direction(reference, size) if reference_direction is None else reference_direction
    return float(a @ b / max(1e-12, np.linalg.norm(a) * np.linalg.norm(b)))


def agreeing(built: list, net, objective, settings, device, size) -> list:
    """The candidates whose step agrees with the fp32 step (cosine >= MIN_AGREEMENT), so `auto` never
    picks a fast backend that dreams something else; one that does not is left out with a line. If that
    leaves no torch backend, the fp32 reference itself stands in (it always works)."""
    reference = next((b for b in built if b.name == f"torch-{device.type}-fp32"), None) \
        or TorchBackend(net, objective, settings, device, "fp32")
    kept, direction = [], None
    for backend in built:
        if backend is reference:
            cosine = 1.0
        else:
            direction = step_direction(reference, size) if direction is None else direction  # once per preset
            cosine = step_agreement(backend, reference, size, direction)
        if cosine >= MIN_AGREEMENT:
            kept.append(backend)
        else:
            log.warning("backend %s disagrees with fp32 on this step (cosine %.3f < %.2f); not used", backend.name,
                        cosine, MIN_AGREEMENT)
    return kept if any(isinstance(b, TorchBackend) for b in kept) else kept + [reference]


def build_candidates(kind: str, net, objective, settings, device, size, steps, precision) -> list:
    """The backend asked for (with 'auto': every one), in order of preference. One that fails to load or
    export is left out with a one-line warning; torch always works, so the list is never empty."""
    order = auto_order(device) if kind == "auto" else [kind] + (["torch"] if kind != "torch" else [])
    built, failures = [], []
    for name in order:
        try:
            backend = build_backend(name, net, objective, settings, device, size, steps, precision)
            backend.kind = name  # what to ask for to build it again (another preset at this size reuses it)
            built.append(backend)
        except Exception as exc:
            raise_if_stopping()  # an interrupted import or export can surface as any error
            failures.append(name)
            message = str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
            log.warning("backend %s unavailable (%s); falling back to %s", name, message,
                        next((n for n in order if n not in failures), "torch"))
        if kind != "auto" and built:
            break
    return agreeing(built, net, objective, settings, device, size) if kind == "auto" and len(built) > 1 else built


class PipelineTrial(Backend):
    """'auto' the first time: the candidates take turns on the live frames themselves, under the real
    load of capture, optical flow and display (a step timed alone misses it: on a 2-core CPU torch won
    alone and onnx won in the pipeline), then the fastest is kept for good and remembered."""
    WARMUP, TIMED = 2, 16  # frames per candidate

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
            # the median and the p95 count alike: a backend that stalls now and then is a stuttering picture
            scores = [(statistics.median(t) + p95(t)) / 2 for t in self.times]
            self.winner = self.candidates[scores.index(min(scores))]
            self.remember(self.winner.name, min(scores), ", ".join(
                f"{b.name} {statistics.median(t):.1f} ms (p95 {p95(t):.1f})"
                for b, t, _ in sorted(zip(self.candidates, self.times, scores), key=lambda bts: bts[2])))
        return out


def choose_backend(kind: str, net, objective, settings: DreamSettings, device: torch.device,
                   size: tuple[int, int], steps: int, precision: str = "auto", known: str | None = None):
    """The backend asked for, or with 'auto' the fastest that works here: the choice remembered for this
    machine, network, objective, size and step count, else the kind `known` to have won for another
    objective of this network at this size (a trial would slow the dream for seconds to find the same),
    else a PipelineTrial that makes it."""
    remembered = None
    if kind == "auto":
        cache = models_dir() / "cache" / "backend-choice.json"
        key = f"{machine_fingerprint(device)}|{net.spec.name}|{objective}|{size}|{steps}|{precision}|pipeline-p95"
        remembered = _remembered_choice(cache, key)
        if remembered is None and known is not None:
            built = build_candidates(known, net, objective, settings, device, size, steps, precision)
            log.info("backend for %s at %dx%d: %s, as for the other objectives at this size", objective, *size,
                     built[0].name)
            return built[0]
    built = build_candidates(kind, net, objective, settings, device, size, steps, precision)
    if kind != "auto" or len(built) == 1:
        return built[0]
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
