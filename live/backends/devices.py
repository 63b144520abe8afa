"""Which device dreams, how much memory it has, and what its errors mean.

`auto` takes an NVIDIA GPU (CUDA), else an Apple GPU (MPS), else the CPU. A GPU that is there but
cannot be used (a driver too old for this torch, a torch built without CUDA) is said in one line, not
passed over in silence. Memory comes from psutil on every system (no /proc, no sysconf).
"""
from __future__ import annotations

import logging
import shutil
import warnings

import torch

from live.errors import UserError

log = logging.getLogger("live-dream")

# CUDA errors after which the context is broken for good: every later call fails the same way, so the
# only cure is a new process (the service manager starts one).
STICKY_CUDA_ERRORS = ("illegal memory access", "illegal instruction", "unspecified launch failure",
                      "device-side assert", "misaligned address", "an illegal address", "hardware stack error",
                      "uncorrectable ecc error", "cuda error: unknown error", "device not ready for use")


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def _cuda_usable() -> bool:
    """torch.cuda.is_available(), saying why not where an NVIDIA GPU is plainly there (nvidia-smi runs):
    torch only warns about a driver too old for it, and a CPU build of torch says nothing at all."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        usable = torch.cuda.is_available()
    if usable or shutil.which("nvidia-smi") is None:
        return usable
    said = next((str(w.message).splitlines()[0] for w in caught if "cuda" in str(w.message).lower()), "")
    if torch.version.cuda is None:
        reason = "this PyTorch is a CPU-only build; install a CUDA build (see pytorch.org) to use the GPU"
    else:
        reason = (said or f"CUDA {torch.version.cuda} cannot start") + "; update the NVIDIA driver to use the GPU"
    log.warning("an NVIDIA GPU is present but unusable: %s. Dreaming on the CPU.", reason)
    return False


def pick_device(setting: str) -> torch.device:
    """`auto`: CUDA, else MPS, else the CPU; `cuda`, `mps` and `cpu` ask for one (a missing one is an error)."""
    if setting == "cpu":
        return torch.device("cpu")
    if setting == "mps":
        if not mps_available():
            raise UserError("network.device = 'mps' but no Apple GPU is usable here (macOS 12.3+ on Apple "
                            "Silicon); use device = 'auto' or 'cpu'")
        return torch.device("mps")
    cuda = _cuda_usable()
    if setting == "cuda" and not cuda:
        raise UserError("network.device = 'cuda' but no CUDA GPU is visible; use device = 'auto' or 'cpu'")
    if cuda:
        # The dream's shapes are fixed for long stretches: let cuDNN time its algorithms once per shape.
        torch.backends.cudnn.benchmark = True
        return torch.device("cuda")
    return torch.device("mps") if mps_available() else torch.device("cpu")


def available_memory(device: torch.device) -> int | None:
    """Bytes this run can still use: free GPU memory on CUDA, else the system's available memory (an
    Apple GPU shares it); None where it cannot be known."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        import psutil
        return int(psutil.virtual_memory().available)
    except Exception:  # psutil is a dependency, but a sandbox may hide what it reads
        return None


def is_out_of_memory(exc: BaseException) -> bool:
    """A GPU out of memory: PyTorch has a type for it; ONNX Runtime has none, and says so in words."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return type(exc).__module__.startswith("onnxruntime") and ("out of memory" in text or "failed to allocate" in text)


def is_sticky_device_error(exc: BaseException) -> bool:
    """A GPU error that leaves the device unusable for this process: an illegal address, a device-side
    assert. Retrying fails for ever; the process must exit so that the service starts a fresh one."""
    text = str(exc).lower()
    from_device = isinstance(exc, getattr(torch, "AcceleratorError", ())) or (
        isinstance(exc, RuntimeError) and "cuda" in text)
    return from_device and any(s in text for s in STICKY_CUDA_ERRORS)
