"""The picture figures, measured frame by frame on what is shown (at the output's size):

- calm: on still pixels (the input changed by under 1 level), mean |out_t - out_t-1| divided by the same
  for the input: how much a still scene boils, in multiples of the camera's own noise;
- flicker: mean |out_t - warp(out_t-1)| divided by the same for the input, warped along the input's
  optical flow (DIS), on pixels whose source lies inside the frame;
- strength: mean |out - in|, 8-bit levels: how strong the dream is;
- detail: correlation of the Laplacians of the grey input and output: how much of the camera's own
  detail survives on the screen.

Running sums only: memory does not grow with the length of the clip.
"""
from __future__ import annotations

import cv2
import numpy as np

from live.dream.flow import FlowEstimator, gray, inside_frame, warp_error

STILL_LEVELS = 1.0  # an input pixel that changed by less than this between frames is "still"


def laplacian_correlation(a_rgb: np.ndarray, b_rgb: np.ndarray) -> float:
    la = cv2.Laplacian(gray(a_rgb).astype(np.float32), cv2.CV_32F).ravel()
    lb = cv2.Laplacian(gray(b_rgb).astype(np.float32), cv2.CV_32F).ravel()
    la, lb = la - la.mean(), lb - lb.mean()
    denominator = float(np.sqrt((la @ la) * (lb @ lb)))
    return float(la @ lb) / denominator if denominator > 0 else 0.0


class PictureMeter:
    def __init__(self):
        self.flow = FlowEstimator("dis")
        self.previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # output, input (float), input
        self.sums = dict.fromkeys(["calm_out", "calm_in", "flicker_out", "flicker_in", "strength", "detail"], 0.0)
        self.frames = self.pairs = self.still_pairs = 0

    def add(self, output: np.ndarray, source: np.ndarray) -> None:
        """One shown frame and the input frame it came from, both uint8 RGB at the output's size."""
        out, inp = output.astype(np.float32), source.astype(np.float32)
        s = self.sums
        s["strength"] += float(np.abs(out - inp).mean())
        s["detail"] += laplacian_correlation(output, source)
        self.frames += 1
        if self.previous is not None:
            prev_out, prev_in, prev_source = self.previous
            in_change = np.abs(inp - prev_in).mean(axis=2)  # over the colour channels: 8-bit levels are whole
            still = in_change < STILL_LEVELS
            if still.any():
                s["calm_out"] += float(np.abs(out - prev_out)[still].mean())
                s["calm_in"] += float(np.abs(inp - prev_in)[still].mean())
                self.still_pairs += 1
            flow = self.flow.backward(source, prev_source)
            inside = inside_frame(flow, source.shape[:2])
            s["flicker_out"] += warp_error(out, prev_out, flow, inside)
            s["flicker_in"] += warp_error(inp, prev_in, flow, inside)
            self.pairs += 1
        self.previous = (out, inp, source)

    def figures(self) -> dict:
        s, ratio = self.sums, (lambda a, b: round(a / b, 2) if b > 0 else None)
        return {
            "calm": ratio(s["calm_out"], s["calm_in"]) if self.still_pairs else None,
            "flicker": ratio(s["flicker_out"], s["flicker_in"]) if self.pairs else None,
            # the same in 8-bit levels, output and input (the ratio's two sides)
            "flicker_output": round(s["flicker_out"] / self.pairs, 3) if self.pairs else None,
            "flicker_input": round(s["flicker_in"] / self.pairs, 3) if self.pairs else None,
            "strength": round(s["strength"] / self.frames, 2) if self.frames else None,
            "detail": round(s["detail"] / self.frames, 3) if self.frames else None,
        }


def format_figures(f: dict) -> str:
    show = lambda v: "n/a" if v is None else v
    return (f"picture: calm {show(f['calm'])} (still pixels' change / the camera's), flicker {show(f['flicker'])} "
            f"(/ the input's), strength {show(f['strength'])} levels, detail {show(f['detail'])}")
