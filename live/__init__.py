"""live-dream: real-time DeepDream for installations and live sets."""
import os

# ONNX Runtime's builds collect usage events (executable path, machine, model names) into a local
# database and look up Microsoft's telemetry host. A camera piece in a museum sends nothing: switch it
# off before anything can import onnxruntime (calling disable_telemetry_events() after import is too late).
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

__version__ = "0.1.0"
