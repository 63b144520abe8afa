"""Backends: ways to run the one dream step fast — eager torch (folded, fp16, CUDA graphs), an ONNX
graph traced from that same step (ONNX Runtime: TensorRT, CUDA or CPU; OpenVINO: CPU, Intel GPU/NPU),
and the choice between them.

May import: torch, numpy, onnx/onnxruntime/openvino, live.dream, live.config, live.errors, live.core.files,
live.core.stopping. Never: pygame, the show, the outputs or the control surfaces.
"""
