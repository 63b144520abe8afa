"""`live-dream bench --gpu-report FILE`, run as a user runs it (a real process): on a machine without CUDA
it reports versions and providers and skips every GPU section at once; with CUDA, the whole report."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from live.proving.gpu_report import NO_GPU, SECTIONS

GPU_SECTIONS = [s.name for s in SECTIONS if s.needs_cuda]


def run_report(path, timeout: float):
    return subprocess.run([sys.executable, "-m", "live.cli", "bench", "--gpu-report", str(path)],
                          capture_output=True, text=True, timeout=timeout)


def cuda_available() -> bool:
    import torch
    return torch.cuda.is_available()


def check_written(path, done) -> dict:
    report = json.loads(path.read_text())
    assert list(report["sections"]) == [s.name for s in SECTIONS]
    summary = path.with_suffix(".md").read_text()
    for section in SECTIONS:
        assert f"## {section.name}:" in summary
        assert section.name in done.stdout  # the summary is printed too
        assert report["sections"][section.name]["cap_s"] == section.cap_s
    # worst case, every section to its cap and grace: under the 8 minutes a GPU is lent for
    assert report["budget_s"] < 8 * 60 - 20
    return report


@pytest.mark.skipif(cuda_available(), reason="the no-GPU path: this machine has CUDA")
def test_without_a_gpu_the_gpu_sections_are_skipped_at_once(tmp_path):
    path = tmp_path / "report.json"
    done = run_report(path, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    report = check_written(path, done)
    sections = report["sections"]
    assert sections["versions"]["status"] == "ok"
    assert sections["versions"]["device"] == "cpu"
    assert sections["versions"]["torch"] and sections["versions"]["onnxruntime"]
    providers = sections["providers"]
    assert providers["status"] == "ok"
    assert "CPUExecutionProvider" in providers["available"]
    assert providers["tensorrt_loadable"] is False and providers["tensorrt_reason"]
    for name in GPU_SECTIONS:
        assert sections[name]["status"] == "skipped", (name, sections[name])
        assert "no GPU" in sections[name]["reason"] and sections[name]["reason"] == NO_GPU
        assert sections[name]["seconds"] == 0.0


@pytest.mark.skipif(not cuda_available(), reason="the full report needs a CUDA GPU")
def test_with_a_gpu_every_section_reports(tmp_path):
    path = tmp_path / "report.json"
    done = run_report(path, timeout=9 * 60)
    report = check_written(path, done)
    for name, section in report["sections"].items():
        assert section["status"] in ("ok", "skipped", "failed", "timed_out"), name
        assert section["seconds"] <= section["cap_s"] + 10, name
    assert report["sections"]["versions"]["device"] == "cuda"
    assert done.returncode == (0 if all(s["status"] in ("ok", "skipped") for s in report["sections"].values()) else 1)
