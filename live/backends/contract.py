"""What every backend promises the dreamer: the one dream step (live/dream/step.py), run fast."""
from __future__ import annotations

from typing import Protocol

import numpy as np


class Backend(Protocol):
    """Runs k gradient-ascent steps of one objective on one network.

    - `steps(image, steps, step_size)`: `image` is HxWx3 float32 in [0, 1] at the size the backend was
      built for (an exported graph refuses another size with ValueError; torch takes any); returns the
      image after `steps` steps, same shape and dtype, finite unless the maths went wrong. 0 steps returns
      the image as it is. Called from one thread at a time (the dream worker).
    - `name`: what it is and where it runs, for the log, /health and the bench ("torch-cpu-fp32",
      "onnx-tensorrt-fp16", "openvino-cpu").

    It is built once per preset and size by `choice.build_backend` from the BACKENDS registry; building
    may export and compile (seconds) and raises when this machine cannot run it (auto then leaves it out).
    """
    name: str

    def steps(self, image: np.ndarray, steps: int, step_size: float) -> np.ndarray: ...
