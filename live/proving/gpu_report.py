"""`live-dream bench --gpu-report FILE`: everything a CUDA GPU can tell about this project, in ONE run
of under 8 minutes (GPU time is lent in short slots, so a second try may never come).

Eight sections, each a small function run under its own cap (the table SECTIONS): versions, providers,
cuda_graphs, parity, memory, onnx_runtime, step_ms and pipeline. A section checks its soft deadline
between measurements and stops with what it has ("timed_out"); any exception ends only that section
("failed", with the error and the end of its traceback); a section still stuck in a native call after
its cap (a TensorRT engine build) is left behind in its thread, so the report goes on. Without CUDA the
GPU sections are "skipped" at once. FILE (JSON) and FILE.md (the same, readable) are written after every
section: a crash inside a native library keeps what was measured before it.
"""
from __future__ import annotations

import gc
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

# torch, onnxruntime and the show are imported inside the functions: `live-dream --help` stays fast.

log = logging.getLogger("live-dream")

NO_GPU = "no GPU: torch.cuda.is_available() is False"
GRACE_S = 5.0  # past its cap, a section's measurement in flight may finish before the section is left behind
GRAPH_SIZE = (320, 240)
PARITY_SIZES = [(320, 240), (1280, 720), (1920, 1080)]
MEMORY_SIZES = PARITY_SIZES
STEP_SIZES = [(320, 240), (1280, 720)]
PRECISIONS = ("fp16", "bf16", "fp32")
CLASS_PRESET = "class:jellyfish"  # the deepest objective: the whole network, logits included
COSINE_FLAG = 0.98  # below this a step goes noticeably elsewhere than the fp32 one (see step.gradient_scale)
WARMUP, TIMED = 3, 20
PIPELINE_SECONDS = 10.0
OOM_SIZE = (16384, 16384)
ORT_NAMES = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}
NVINFER = ["libnvinfer.so.10", "libnvinfer.so.8", "libnvinfer.so"]  # TensorRT 10 is what onnxruntime-gpu 1.2x+ wants


class OutOfTime(Exception):
    """The section's cap came before this measurement."""


class Skipped(Exception):
    """Nothing to measure here; the message says why."""


class Deadline:
    """A section's soft deadline, checked between measurements (a native call cannot be interrupted)."""

    def __init__(self, cap_s: float):
        self.cap_s, self.end = cap_s, time.monotonic() + cap_s

    def left(self) -> float:
        return self.end - time.monotonic()

    def check(self, what: str) -> None:
        if self.left() <= 0:
            raise OutOfTime(f"the {self.cap_s:.0f} s cap came before {what}")


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def figures(times_ms: list[float]) -> dict:
    from live.backends.choice import p95
    return {"median": round(statistics.median(times_ms), 3), "p95": round(p95(times_ms), 3)}


def error_text(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def captured(backend, shape: tuple) -> bool:
    """Whether the torch backend holds a CUDA graph for this input shape (its graphs: a GraphCache, or a
    plain dict in older trees)."""
    return shape in getattr(backend._graphs, "graphs", backend._graphs)


def provider_name(provider) -> str:
    return provider if isinstance(provider, str) else provider[0]


def first_gpu():
    import torch
    return torch.device("cuda", 0)


def sync() -> None:
    import torch
    torch.cuda.synchronize()


class Context:
    """What the sections share, built on first use: the settings, the network on the CPU and on the GPU
    (one Dreamer each: it truncates the network per objective), the test photo, the ONNX backends
    (onnx_runtime makes them, step_ms times them) and a scratch folder."""

    def __init__(self, config, workdir: Path):
        self.config, self.workdir = config, workdir
        self.onnx: dict[tuple[str, tuple[int, int]], object] = {}  # (provider, size) -> OnnxBackend
        self._dreamers: dict[str, object] = {}
        self._photos: dict[tuple[int, int], np.ndarray] = {}

    @cached_property
    def has_cuda(self) -> bool:
        import torch
        return torch.cuda.is_available()

    @cached_property
    def spec(self):
        from live.dream.zoo import get_spec
        return get_spec(self.config.network.name)

    @cached_property
    def settings(self):
        return self.config.live_settings()  # as build_dreamer does

    @cached_property
    def texts(self) -> list[str]:
        """The objectives of the configured presets, each once (the show prepares exactly these)."""
        from live.backends.dreamer import objectives_of, presets_for
        return objectives_of(presets_for(self.config))

    @property
    def step_size(self) -> float:
        return self.settings.step_size

    def dreamer(self, device: str):
        if device not in self._dreamers:
            import torch
            from live.dream.zoo import build_network
            from live.backends.dreamer import Dreamer
            from live.backends.engine import Network, load_guide
            network = self.config.network
            guide = load_guide(network.guide) if network.guide else None
            where = torch.device(device)
            model = build_network(self.spec, network.weights or None).to(where)
            self._dreamers[device] = Dreamer(Network(self.spec, model, where, guide), list(self.texts),
                                             self.settings, backend="torch")
        return self._dreamers[device]

    def net(self, device: str, text: str):
        """(network truncated for `text`, objective bound to it) on "cpu" or "cuda"."""
        dreamer = self.dreamer(device)
        return dreamer.net(dreamer.preset_for(text))

    def backend(self, device: str, text: str, precision: str, graphs: bool = True):
        import torch
        from live.backends.torch_backend import TorchBackend
        backend = TorchBackend(*self.net(device, text), self.settings, torch.device(device), precision)
        backend.use_graphs = backend.use_graphs and graphs
        return backend

    def photo(self, size: tuple[int, int]) -> np.ndarray:
        """A real photo (gradients of noise tell little about precision), HxWx3 float32 in [0, 1]."""
        if size not in self._photos:
            from live.core.imageio import fit_cover, read_image
            from live.sources import MEDIA
            self._photos[size] = fit_cover(read_image(MEDIA / "chelsea.png"), size).astype(np.float32) / 255
        return self._photos[size]

    def release_gpu(self) -> None:
        """Drop the sessions and networks of earlier sections, so the show meets a GPU as at boot."""
        self.onnx.clear()
        self._dreamers.pop("cuda", None)
        gc.collect()
        if self.has_cuda:
            import torch
            torch.cuda.empty_cache()


# ------------------------------------------------------------------------------------------ sections

def versions(ctx: Context, out: dict, deadline: Deadline) -> None:
    import onnxruntime as ort
    import torch
    from live.backends.openvino_backend import import_openvino
    from live.proving.bench import cpu_name
    out.update(device="cuda" if ctx.has_cuda else "cpu", python=platform.python_version(), torch=torch.__version__,
               torch_cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(), onnxruntime=ort.__version__,
               onnxruntime_providers=ort.get_available_providers(), openvino=version_of(import_openvino),
               tensorrt=version_of(lambda: __import__("tensorrt")), cpu=f"{cpu_name()}, {os.cpu_count()} cores",
               driver=driver_version())
    if ctx.has_cuda:
        p = torch.cuda.get_device_properties(0)
        out.update(gpu=p.name, compute_capability=f"{p.major}.{p.minor}",
                   gpu_memory_gib=round(p.total_memory / 2**30, 1), gpus=torch.cuda.device_count())


def version_of(load: Callable) -> str:
    try:
        return str(load().__version__)
    except Exception as exc:  # missing, or present but broken (a wheel for another CUDA): both are news
        return f"not importable ({error_text(exc)})"


def driver_version() -> str:
    if shutil.which("nvidia-smi"):
        try:
            done = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                  capture_output=True, text=True, timeout=10)
            if done.returncode == 0 and done.stdout.strip():
                return done.stdout.strip().splitlines()[0]
            return f"unknown (nvidia-smi: {(done.stderr or done.stdout).strip()[:200]})"
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"unknown (nvidia-smi: {error_text(exc)})"
    return "unknown (no nvidia-smi)"


# Run in a child process: a library that crashes while loading takes only the child with it. It prepares
# as the show does before asking for GPU providers (torch, then TensorRT's Python package, which loads
# libnvinfer, then onnxruntime's preload of CUDA and cuDNN), then loads each library.
LIBRARY_PROBE = """
import ctypes, json, sys
import torch
try:
    import tensorrt
except Exception:
    pass
import onnxruntime as ort
if hasattr(ort, "preload_dlls"):
    try:
        ort.preload_dlls(directory="")
    except Exception:
        pass
found = {}
for label, candidates in json.loads(sys.argv[1]).items():
    errors = []
    for path in candidates:
        try:
            ctypes.CDLL(path)
            found[label] = "loads: " + path
            break
        except OSError as exc:
            errors.append(str(exc))
    else:
        found[label] = errors[0]
print(json.dumps(found))
"""


def providers(ctx: Context, out: dict, deadline: Deadline) -> None:
    import onnxruntime as ort
    from live.backends.onnx_backend import load_tensorrt_libraries, onnx_providers
    capi = Path(ort.__file__).parent / "capi"
    out["available"] = ort.get_available_providers()  # what the wheel was built with, not what will load
    out["tensorrt_python"] = load_tensorrt_libraries() or "loads"  # the show's own way to load TensorRT
    out["project_asks_for"] = [provider_name(p) for p in onnx_providers()]  # GPU ones only with CUDA
    wanted = {"libnvinfer": NVINFER,
              "ort_tensorrt_provider": [str(capi / "libonnxruntime_providers_tensorrt.so")],
              "ort_cuda_provider": [str(capi / "libonnxruntime_providers_cuda.so")]}
    done = subprocess.run([sys.executable, "-c", LIBRARY_PROBE, json.dumps(wanted)], capture_output=True,
                          text=True, timeout=max(5.0, deadline.left()))
    if done.returncode != 0:
        raise RuntimeError(f"the library probe failed: {done.stderr.strip()[-300:]}")
    libraries = out["libraries"] = json.loads(done.stdout.strip().splitlines()[-1])
    loads = {label: text.startswith("loads") for label, text in libraries.items()}
    out["tensorrt_loadable"] = loads["libnvinfer"] and loads["ort_tensorrt_provider"]
    if not out["tensorrt_loadable"]:
        out["tensorrt_reason"] = next(libraries[k] for k in ("libnvinfer", "ort_tensorrt_provider") if not loads[k])
    out["cuda_provider_loadable"] = loads["ort_cuda_provider"]


def cuda_graphs(ctx: Context, out: dict, deadline: Deadline) -> None:
    """Every preset the show prepares, captured as the show does it (TorchBackend, fp16, one graph per
    shape); a preset whose capture fails would step eagerly, several times slower, with one warning."""
    from live.backends.torch_backend import GraphedStep, to_image_tensor
    image, (w, h) = ctx.photo(GRAPH_SIZE), GRAPH_SIZE
    rows = out["presets"] = []
    for text in ctx.texts:
        deadline.check(f"capturing {text}")
        row = {"preset": text}
        rows.append(row)
        try:
            backend = ctx.backend("cuda", text, "fp16")
            t0 = time.perf_counter()
            backend.steps(image, 1, ctx.step_size)  # 3 warm-up steps, the capture, one replay
            row["capture_ms"] = ms(time.perf_counter() - t0)
            row["ok"] = backend.use_graphs and captured(backend, (1, 3, h, w))
            if row["ok"]:
                replays = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    backend.steps(image, 1, ctx.step_size)
                    replays.append(ms(time.perf_counter() - t0))
                row["replay_ms"] = figures(replays)["median"]
            else:  # the backend logged one warning and went eager: capture again, here, for the reason
                GraphedStep(backend.step, to_image_tensor(image, first_gpu()), ctx.step_size)
                row["error"] = "no graph was kept, yet a second capture worked"
        except Exception as exc:
            row.update(ok=False, error=error_text(exc))
    failed = [r["preset"] for r in rows if not r["ok"]]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(rows)} presets not captured: {', '.join(failed)}")


def parity(ctx: Context, out: dict, deadline: Deadline) -> None:
    """Each GPU precision against a CPU fp32 step on the same photo: the direction of the change (the
    step normalises its size) and the share of gradient entries that are exactly 0 (fp16 underflow)."""
    import torch
    from live.backends.torch_backend import to_image_tensor
    from live.dream.step import objective_gradient
    texts = [ctx.texts[0]] + ([CLASS_PRESET] if CLASS_PRESET != ctx.texts[0] else [])
    out["gpu_fp32_convolutions_in_tf32"] = torch.backends.cudnn.allow_tf32  # torch's default: True
    backends: dict[tuple, object] = {}

    def measure(device: str, text: str, precision: str, image: np.ndarray):
        key = (device, text, precision)
        if key not in backends:  # eager: the graph replays the same maths, and captures cost time here
            backends[key] = ctx.backend(device, text, precision, graphs=False)
        backend = backends[key]
        change = backend.steps(image, 1, ctx.step_size).astype(np.float64) - image
        g = objective_gradient(backend.net, backend.objective, to_image_tensor(image, backend.device))
        return change, float((g == 0).float().mean())

    rows = out["rows"] = []
    for w, h in PARITY_SIZES:  # smallest first: a cap leaves the sizes the show uses most
        image = ctx.photo((w, h))
        for text in texts:
            deadline.check(f"{text} at {w}x{h}")
            reference, reference_zeros = measure("cpu", text, "fp32", image)
            for precision in PRECISIONS:
                deadline.check(f"{text} {precision} at {w}x{h}")
                change, zeros = measure("cuda", text, precision, image)
                cos = cosine(change, reference)
                rows.append({"size": f"{w}x{h}", "preset": text, "precision": precision, "cos": cos,
                             "norm_ratio": round(float(np.linalg.norm(change) / max(np.linalg.norm(reference),
                                                                                   1e-30)), 4),
                             "zero_grad_share": round(zeros, 6), "cpu_fp32_zero_grad_share": round(reference_zeros, 6),
                             "flag": cos < COSINE_FLAG})
    out["flagged"] = [f"{r['precision']} {r['preset']} {r['size']}: cos {r['cos']}" for r in rows if r["flag"]]


def memory(ctx: Context, out: dict, deadline: Deadline) -> None:
    """Peak memory of a captured step per size (against the estimate the start-up check uses), then the
    out-of-memory path the dream worker relies on: the error type it catches, memory given back after."""
    import torch
    from live.backends.engine import BYTES_PER_DREAM_PIXEL
    from live.backends.devices import is_out_of_memory  # the test the dream worker applies, wherever it lives
    text, rows = ctx.texts[0], out.setdefault("graphs", [])
    for w, h in MEMORY_SIZES:
        deadline.check(f"the {w}x{h} graph")
        backend = ctx.backend("cuda", text, "fp16")
        settle()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        backend.steps(ctx.photo((w, h)), 1, ctx.step_size)
        peak, held = torch.cuda.max_memory_allocated() - base, torch.cuda.memory_allocated() - base
        rows.append({"size": f"{w}x{h}", "captured": captured(backend, (1, 3, h, w)), "peak_mb": round(peak / 2**20, 1),
                     "held_mb": round(held / 2**20, 1), "bytes_per_pixel": round(peak / (w * h)),
                     "start_check_assumes": BYTES_PER_DREAM_PIXEL})
        del backend
    deadline.check("the out-of-memory test")
    out["out_of_memory"] = out_of_memory(ctx, is_out_of_memory)


def settle() -> None:
    import torch
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()


def out_of_memory(ctx: Context, is_out_of_memory: Callable) -> dict:
    """A 16384x16384 step (about 270 megapixels: hundreds of GB at ~1-3 kB a pixel) with the allocator
    capped at what is in use plus 4 GiB, as on a GPU shared with other programs. The cap makes the
    failure an allocation (what a real shortage raises), not a 32-bit indexing error of a kernel that
    got its memory on a 141 GB card."""
    import torch
    size, result = OOM_SIZE, {}
    settle()
    before, free_before = torch.cuda.memory_allocated(), torch.cuda.mem_get_info()[0]
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, (torch.cuda.memory_reserved() + 4 * 2**30) / total))
    backend = ctx.backend("cuda", ctx.texts[0], "fp16")
    try:
        backend.steps(np.zeros((size[1], size[0], 3), np.float32), 1, ctx.step_size)
        result.update(raised=None, caught_by_worker=False)
    except Exception as exc:
        result.update(raised=error_text(exc)[:200], caught_by_worker=is_out_of_memory(exc),
                      is_torch_oom=isinstance(exc, torch.cuda.OutOfMemoryError))
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    backend.steps(ctx.photo(GRAPH_SIZE), 1, ctx.step_size)  # the same backend still dreams a live frame
    del backend
    settle()
    after, free_after = torch.cuda.memory_allocated(), torch.cuda.mem_get_info()[0]
    result.update(size=f"{size[0]}x{size[1]}", allocated_before_mb=round(before / 2**20, 1),
                  allocated_after_mb=round(after / 2**20, 1), free_before_mb=round(free_before / 2**20),
                  free_after_mb=round(free_after / 2**20),
                  # a margin: a new stream's cuBLAS and cuDNN workspaces stay allocated, by design
                  memory_back=after <= before + 64 * 2**20 and free_after >= free_before - 256 * 2**20,
                  dreams_after=True)
    if not (result["caught_by_worker"] and result["memory_back"]):
        raise RuntimeError(f"out-of-memory path: raised {result['raised']}, worker catches it: "
                           f"{result['caught_by_worker']}, memory back: {result['memory_back']}")
    return result


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return round(float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30)), 5)


def onnx_runtime(ctx: Context, out: dict, deadline: Deadline) -> None:  # a report section: steps in the order they run
    """The exported step graph in ONNX Runtime, through the project's OnnxBackend pinned to one GPU
    provider (with the project's options): export, first session (for TensorRT the engine build), second
    session (the cached engine), first run, ms per step, and the step's cosine to the CPU fp32 torch step.
    The backends stay for step_ms. Runs before step_ms: a TensorRT build is the one measurement here
    that can take minutes, and only this section's cap is sized for it."""
    from live.backends.onnx_backend import OnnxBackend, load_tensorrt_libraries, onnx_providers
    from live.backends.onnx_export import exported_graph
    asked = onnx_providers()  # the show's choice on this machine, options included
    kinds = [k for k in ("cuda", "tensorrt") if ORT_NAMES[k] in map(provider_name, asked)]
    out["project_asks_for"] = [provider_name(p) for p in asked]
    if not kinds:
        raise Skipped("the project asks ONNX Runtime for no GPU provider here (onnxruntime-gpu missing, or its "
                      "CUDA libraries do not load)")

    def pinned(kind: str) -> list:
        return [p for p in asked if provider_name(p) in (ORT_NAMES[kind], "CPUExecutionProvider")]

    text = ctx.texts[0]
    net, objective = ctx.net("cpu", text)  # the CPU network's export: the same graph, whatever device
    rows, build_s = out.setdefault("rows", []), None
    for w, h in STEP_SIZES:
        deadline.check(f"the export at {w}x{h}")
        t0 = time.perf_counter()
        exported_graph(net, objective, ctx.settings, (w, h), 1, lambda path: path)
        export_s = round(time.perf_counter() - t0, 2)
        image = ctx.photo((w, h))
        reference = ctx.backend("cpu", text, "fp32").steps(image, 1, ctx.step_size) - image
        for kind in ("cuda", "tensorrt"):
            row = {"provider": kind, "size": f"{w}x{h}", "export_s": export_s}
            rows.append(row)
            if kind not in kinds:
                why = load_tensorrt_libraries() if kind == "tensorrt" else None
                row["skipped"] = f"the project does not ask for {ORT_NAMES[kind]} here" + (f": {why}" if why else "")
                continue
            if kind == "tensorrt" and build_s is not None and deadline.left() < 1.5 * build_s + 10:
                row["skipped"] = f"not enough time left for an engine build (the last one took {build_s:.0f} s)"
                continue
            deadline.check(f"the {kind} session at {w}x{h}")
            t0 = time.perf_counter()
            backend = OnnxBackend(net, objective, ctx.settings, (w, h), 1, providers=pinned(kind))
            row["first_session_s"] = round(time.perf_counter() - t0, 2)
            row.update(backend=backend.name, runs_on=backend.graphs[1].get_providers())
            t0 = time.perf_counter()
            dreamed = backend.steps(image, 1, ctx.step_size)
            row["first_run_s"] = round(time.perf_counter() - t0, 2)  # a build deferred to the first run shows here
            if kind == "tensorrt":
                build_s = row["first_session_s"] + row["first_run_s"]
            row["cos_vs_cpu_fp32"] = cosine(dreamed - image, reference)
            t0 = time.perf_counter()
            OnnxBackend(net, objective, ctx.settings, (w, h), 1, providers=pinned(kind))
            row["second_session_s"] = round(time.perf_counter() - t0, 2)  # TensorRT: the engine from its cache
            times = []
            for _ in range(10):
                t0 = time.perf_counter()
                backend.steps(image, 1, ctx.step_size)
                times.append(ms(time.perf_counter() - t0))
            row["step_ms"] = figures(times)
            if row["runs_on"][0] != ORT_NAMES[kind]:
                row["warning"] = f"{ORT_NAMES[kind]} did not take the graph"
            ctx.onnx[(kind, (w, h))] = backend
    deadline.check("the project's ONNX backend")
    out["project_backend"] = project_onnx_backend(ctx, text)
    deadline.check("the export from a network on the GPU")
    out["export_from_cuda_net"] = export_from_cuda_net(ctx, text)


def project_onnx_backend(ctx: Context, text: str) -> dict:
    """OnnxBackend as the show builds it (network on the GPU, its own choice of providers), on the graph
    and engine cached above."""
    from live.backends.onnx_backend import OnnxBackend
    try:
        t0 = time.perf_counter()
        backend = OnnxBackend(*ctx.net("cuda", text), ctx.settings, GRAPH_SIZE, 1)
        backend.steps(ctx.photo(GRAPH_SIZE), 1, ctx.step_size)
        return {"ok": True, "name": backend.name, "seconds": round(time.perf_counter() - t0, 2)}
    except Exception as exc:
        return {"ok": False, "error": error_text(exc)}


def export_from_cuda_net(ctx: Context, text: str) -> dict:
    """The show hands the ONNX backend its network on the GPU; with nothing cached, the export starts from
    that network. Does it work? (A small size: the trace, not the pixels, costs.)"""
    from live.backends.onnx_export import export_steps
    try:
        t0 = time.perf_counter()
        export_steps(*ctx.net("cuda", text), ctx.settings, (64, 64), 1, ctx.workdir / "probe.onnx")
        return {"ok": True, "seconds": round(time.perf_counter() - t0, 2)}
    except Exception as exc:
        return {"ok": False, "error": error_text(exc)}


def step_ms(ctx: Context, out: dict, deadline: Deadline) -> None:
    """ms per step, with the upload (host to GPU), the step and the download (GPU to host) timed apart:
    a fast step behind slow copies is a copy problem. The ONNX backends are those onnx_runtime made."""
    from live.backends.torch_backend import to_image_array, to_image_tensor
    device, text, rows = first_gpu(), ctx.texts[0], out.setdefault("rows", [])
    for w, h in STEP_SIZES:
        image = ctx.photo((w, h))
        for graphs in (False, True):
            deadline.check(f"torch fp16 {'graph' if graphs else 'eager'} at {w}x{h}")
            backend = ctx.backend("cuda", text, "fp16", graphs=graphs)
            step = backend._graphed_step if graphs else backend.step
            rows.append({"backend": f"torch-cuda-fp16-{'graph' if graphs else 'eager'}", "size": f"{w}x{h}",
                         **timed_parts(lambda: to_image_tensor(image, device), lambda x: step(x, ctx.step_size),
                                       to_image_array)})
        for kind in ("cuda", "tensorrt"):
            backend = ctx.onnx.get((kind, (w, h)))
            if backend is None:
                rows.append({"backend": f"onnx-{kind}", "size": f"{w}x{h}",
                             "skipped": "no backend: onnx_runtime made none for this size (see that section)"})
                continue
            deadline.check(f"onnx {kind} at {w}x{h}")
            rows.append({"backend": backend.name, "size": f"{w}x{h}", **onnx_parts(backend, image, ctx.step_size)})


def timed_parts(upload: Callable, step: Callable, download: Callable) -> dict:
    """Median and p95 of each part over TIMED rounds after WARMUP, the GPU synchronised around each part."""
    parts = {"upload_ms": [], "step_ms": [], "download_ms": [], "total_ms": []}
    for i in range(WARMUP + TIMED):
        sync()
        t0 = time.perf_counter()
        x = upload()
        sync()
        t1 = time.perf_counter()
        y = step(x)
        sync()
        t2 = time.perf_counter()
        download(y)
        t3 = time.perf_counter()
        if i >= WARMUP:
            for name, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
                parts[name].append(seconds * 1000)
    return {name: figures(times) for name, times in parts.items()}


def onnx_parts(backend, image: np.ndarray, step_size: float) -> dict:
    """The same three parts as OnnxBackend.steps does them: the image uploaded into an OrtValue on the
    provider's device, the graph run there through an IO binding, the result copied back."""
    x = np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)
    feed, session = np.array(step_size, np.float32), backend.graphs[1]
    return timed_parts(lambda: backend._upload(x), lambda v: backend._run(session, v, feed), backend._download)


def pipeline(ctx: Context, out: dict, deadline: Deadline) -> None:
    """The live show, headless, on the demo source: a 320x240 dream shown at its own size, then a
    1280x720 dream composited to a 1920x1080 output (recorded: headless, the recording is the output
    that sets the size). One preset and the torch backend: 'auto' would export and build TensorRT
    engines for every preset first, minutes this cap does not have."""
    ctx.release_gpu()
    runs = [("dream 320x240", (320, 240), None), ("dream 1280x720, output 1920x1080", (1280, 720), (1920, 1080))]
    out["backend"] = ctx.config.live.backend if ctx.config.live.backend != "auto" else "torch"
    out["preset"] = ctx.texts[0]
    out["runs"] = []
    for label, dream, output in runs:
        # a run needs about 10 s of frames plus a few of start-up (network, graph capture) and close
        if deadline.left() < PIPELINE_SECONDS + 8:
            raise OutOfTime(f"the {deadline.cap_s:.0f} s cap leaves too little for '{label}'")
        out["runs"].append({"run": label, **show_run(ctx, out["backend"], dream, output)})


def show_run(ctx: Context, backend: str, dream: tuple[int, int], output: tuple[int, int] | None) -> dict:
    from live.show.pipeline import RunOptions, run_live
    c = ctx.config
    capture = replace(c.capture, source="demo", fps=max(c.capture.fps, 60))  # the source must not cap the rate
    record = replace(c.record, path="")
    if output:  # the camera at the output's size too, as a 1080p show would have it
        capture = replace(capture, width=output[0], height=output[1])
        record = replace(record, path=str(ctx.workdir / "pipeline.mp4"), width=output[0], height=output[1])
    config = replace(c, capture=capture, record=record, display=replace(c.display, mode="headless"),
                     live=replace(c.live, width=dream[0], height=dream[1], backend=backend, presets=(ctx.texts[0],)),
                     installation=replace(c.installation, enabled=False))
    with GpuUtilisation() as utilisation:
        summary = run_live(config, RunOptions(seconds=PIPELINE_SECONDS, observe=utilisation.frame_shown))
    keys = ("fps", "latency_ms_median", "latency_ms_p95", "captured", "dreamed", "shown", "backend", "dream_size",
            "skipped_frames", "peak_memory_mb")
    return {"output": f"{output[0]}x{output[1]} (recorded)" if output else f"{dream[0]}x{dream[1]} (no output)",
            **{k: summary.get(k) for k in keys}, "gpu_utilisation": utilisation.figures()}


class GpuUtilisation:
    """The GPU's utilisation, sampled in a thread once frames flow: NVML if importable, else nvidia-smi,
    else "unknown"."""

    def __init__(self, interval_s: float = 0.25):
        self.interval_s, self.samples, self.flowing = interval_s, [], False
        self.read, self.how = self._reader()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="gpu-utilisation", daemon=True)

    def _reader(self):
        try:
            import pynvml
            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            return (lambda: float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)), "nvml"
        except Exception:
            pass
        if shutil.which("nvidia-smi"):
            def smi():
                done = subprocess.run(["nvidia-smi", "-i", "0", "--query-gpu=utilization.gpu",
                                       "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=5)
                return float(done.stdout.strip().splitlines()[0])
            return smi, "nvidia-smi"
        return None, None

    def frame_shown(self, state, now, item=None) -> None:
        self.flowing = True

    def __enter__(self):
        if self.read:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _sample(self):
        while not self._stop.wait(self.interval_s):
            if self.flowing:
                try:
                    self.samples.append(self.read())
                except Exception:  # one failed reading is one sample fewer
                    pass

    def figures(self):
        if not self.samples:
            return "unknown" if not self.read else f"unknown (no reading from {self.how})"
        return {"mean_percent": round(statistics.mean(self.samples), 1), "max_percent": max(self.samples),
                "samples": len(self.samples), "from": self.how}


# ------------------------------------------------------------------------------------------ the runner

class Section(NamedTuple):
    name: str
    run: Callable[[Context, dict, Deadline], None]
    cap_s: float
    needs_cuda: bool


# The caps add up to 405 s; with GRACE_S each and a few seconds of start-up the worst case stays under
# 8 minutes. onnx_runtime runs before step_ms: it builds the TensorRT engines that step_ms then times.
SECTIONS = [
    Section("versions", versions, 15, False),  # the first CUDA call (context creation) happens here
    Section("providers", providers, 20, False),
    Section("cuda_graphs", cuda_graphs, 40, True),
    Section("parity", parity, 60, True),
    Section("memory", memory, 35, True),
    Section("onnx_runtime", onnx_runtime, 130, True),
    Section("step_ms", step_ms, 40, True),
    Section("pipeline", pipeline, 65, True),
]


def run_section(section: Section, ctx: Context) -> tuple[dict, threading.Thread | None]:
    """The section's figures, with status, seconds and cap_s first; and its thread if it had to be left
    running (still inside a native call after its cap and the grace)."""
    head = {"status": "skipped", "seconds": 0.0, "cap_s": section.cap_s}
    if section.needs_cuda and not ctx.has_cuda:
        return {**head, "reason": NO_GPU}, None
    out, outcome, t0 = {}, {}, time.monotonic()

    def target():
        try:
            section.run(ctx, out, Deadline(section.cap_s))
            outcome["status"] = "ok"
        except OutOfTime as exc:
            outcome.update(status="timed_out", reason=str(exc))
        except Skipped as exc:
            outcome.update(status="skipped", reason=str(exc))
        except Exception as exc:
            log.debug("gpu report: section %s failed", section.name, exc_info=True)  # to --log-file
            outcome.update(status="failed", error=error_text(exc),
                           traceback=traceback.format_exc().strip().splitlines()[-8:])

    # A thread, so that a call that never returns (a TensorRT build) costs this section, not the report.
    thread = threading.Thread(target=target, name=f"gpu-report-{section.name}", daemon=True)
    thread.start()
    thread.join(section.cap_s + GRACE_S)
    head["seconds"] = round(time.monotonic() - t0, 2)
    if thread.is_alive():
        outcome = {"status": "timed_out", "reason": f"still running {section.cap_s + GRACE_S:.0f} s after its start; "
                   "left running in the background (the sections after it may be slowed)"}
        return {**head, **outcome, **snapshot(out)}, thread
    return {**head, **outcome, **out}, None


def snapshot(out: dict) -> dict:
    """A copy of what a still-running section has filled in so far (it may still be writing)."""
    for _ in range(3):
        try:
            return json.loads(json.dumps(out, default=str))
        except RuntimeError:  # changed while being copied
            time.sleep(0.05)
    return {}


def report_paths(file: str) -> tuple[Path, Path]:
    from live.core.files import check_output
    path = check_output(file, "write the GPU report to")
    summary = path.with_suffix(".md")
    return path, summary if summary != path else path.with_name(path.name + ".md")


def run_gpu_report(config, file: str) -> int:  # the sections, their caps and the two files, in order
    """Write the report to `file` (JSON) and `file`.md; print the summary. Exit status 0 when no section
    failed or ran out of time, 1 otherwise (the report is written either way)."""
    from live.core.files import write_json
    json_path, md_path = report_paths(file)
    workdir = Path(tempfile.mkdtemp(prefix="live-dream-gpu-report-"))
    # Exports and TensorRT engines go to a fresh models folder: an engine "build" must not be a reload
    # of one an earlier run left, and the report must not fill the user's cache.
    previous_models = os.environ.get("LIVE_DREAM_MODELS")
    os.environ["LIVE_DREAM_MODELS"] = str(workdir / "models")
    ctx = Context(config, workdir)
    report = {"report": "live-dream GPU report", "started": time.strftime("%Y-%m-%d %H:%M:%S"),
              "budget_s": sum(s.cap_s + GRACE_S for s in SECTIONS), "sections": {}}
    started, stuck = time.monotonic(), []
    try:
        for i, section in enumerate(SECTIONS, 1):
            log.info("gpu report %d/%d: %s (cap %.0f s) ...", i, len(SECTIONS), section.name, section.cap_s)
            try:
                result, thread = run_section(section, ctx)
            except KeyboardInterrupt:
                for rest in SECTIONS[i - 1:]:
                    report["sections"][rest.name] = {"status": "skipped", "seconds": 0.0, "cap_s": rest.cap_s,
                                                     "reason": "interrupted"}
                write_report(report, started, json_path, md_path, write_json)
                raise
            stuck += [thread] if thread else []
            report["sections"][section.name] = result
            log.info("gpu report %d/%d: %s %s in %.1f s%s", i, len(SECTIONS), section.name, result["status"],
                     result["seconds"], f" ({result.get('reason') or result.get('error')})"
                     if result["status"] != "ok" else "")
            write_report(report, started, json_path, md_path, write_json)
    finally:
        if previous_models is None:
            os.environ.pop("LIVE_DREAM_MODELS", None)
        else:
            os.environ["LIVE_DREAM_MODELS"] = previous_models
        if not stuck:
            shutil.rmtree(workdir, ignore_errors=True)
    print(markdown(report), flush=True)
    print(f"wrote {json_path} and {md_path}", flush=True)
    status = 1 if any(s["status"] in ("failed", "timed_out") for s in report["sections"].values()) else 0
    if stuck:
        # A thread still inside a native library can hang the interpreter's exit; the report is written.
        log.warning("gpu report: %d section(s) still running; exiting without waiting for them", len(stuck))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def write_report(report: dict, started: float, json_path: Path, md_path: Path, write_json: Callable) -> None:
    from live.core.files import atomic_output
    report["total_seconds"] = round(time.monotonic() - started, 1)
    write_json(json_path, report)
    with atomic_output(md_path) as tmp:
        tmp.write_text(markdown(report))


# ------------------------------------------------------------------------------------------ the summary

def markdown(report: dict) -> str:
    """The report, readable: one table of the sections, then each section's figures."""
    sections = report["sections"]
    lines = [f"# {report['report']}", "", f"Started {report['started']}; {report.get('total_seconds', 0)} s in all "
             f"(worst case {report['budget_s']:.0f} s).", "",
             "| section | status | seconds | cap s | note |", "|---|---|---|---|---|"]
    for name, s in sections.items():
        note = s.get("reason") or s.get("error") or ""
        lines.append(f"| {name} | {s['status']} | {s['seconds']} | {s['cap_s']:.0f} | {note.replace('|', '/')} |")
    for name, s in sections.items():
        lines += ["", f"## {name}: {s['status']}", ""]
        body = {k: v for k, v in s.items() if k not in ("status", "seconds", "cap_s")}
        lines += render(body) or ["(nothing measured)"]
    return "\n".join(lines) + "\n"


def render(value: dict, indent: str = "") -> list[str]:
    """Nested dicts as bullets; a list of dicts as a table (rows of measurements)."""
    lines = []
    for key, item in value.items():
        if key == "traceback":  # where a section failed: verbatim
            lines += [f"{indent}- traceback:", "", "```", *item, "```", ""]
        elif isinstance(item, list) and item and all(isinstance(r, dict) for r in item):
            lines += [f"{indent}- {key}:", ""] + table(item) + [""]
        elif isinstance(item, dict):
            lines += [f"{indent}- {key}:"] + render(item, indent + "  ")
        elif isinstance(item, list):
            lines.append(f"{indent}- {key}: {', '.join(map(str, item)) if item else 'none'}")
        else:
            lines.append(f"{indent}- {key}: {item}")
    return lines


def table(rows: list[dict]) -> list[str]:
    columns = list(dict.fromkeys(k for row in rows for k in row))

    def cell(v):
        if isinstance(v, dict) and {"median", "p95"} <= set(v):  # timings: median (p95)
            return f"{v['median']} ({v['p95']})"
        if isinstance(v, list):
            return ", ".join(map(str, v))
        return str("" if v is None else v).replace("|", "/")
    return ([f"| {' | '.join(columns)} |", f"|{'---|' * len(columns)}"]
            + [f"| {' | '.join(cell(row.get(c)) for c in columns)} |" for row in rows])
