"""live-dream: real-time DeepDream for installations and live sets."""
import os

# ONNX Runtime's builds collect usage events (executable path, machine, model names) into a local
# database and look up Microsoft's telemetry host. A camera piece in a museum sends nothing: switch it
# off before anything can import onnxruntime (calling disable_telemetry_events() after import is too late).
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
# PyTorch's OpenMP threads spin while they wait for work. Beside a busy neighbour process on a 2-core
# machine a spinning thread holds a core the others wait for: steps took 50-190 ms instead of ~30. Waiting
# passively costs ~10 % when the machine is quiet and keeps a loaded one in proportion (40-45 ms). It must
# be set before torch loads its OpenMP runtime; a value already in the environment is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
