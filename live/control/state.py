"""The show state: one immutable value, changed only by applying actions to it (`apply`), and the
status snapshot that displays read.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from live.control.actions import Action

MAX_STRENGTH, MIN_STRENGTH = 8.0, 0.05


@dataclass(frozen=True)
class ShowState:
    presets: int = 1  # how many objective presets there are
    preset: int = 0
    strength: float = 1.0  # multiplies the step size
    steps: int = 1  # gradient steps per frame
    max_steps: int = 6  # the most the steps keys may set
    frozen: bool = False  # keep dreaming on the current frame; new frames are dropped


def apply(state: ShowState, action: Action) -> ShowState:
    """The state after `action`; effects (snapshot, quit, ...) leave it as it is."""
    name = action.name
    if name == "next":
        return replace(state, preset=(state.preset + 1) % state.presets)
    if name == "previous":
        return replace(state, preset=(state.preset - 1) % state.presets)
    if name == "stronger":
        return replace(state, strength=min(state.strength * 1.25, MAX_STRENGTH))
    if name == "weaker":
        return replace(state, strength=max(state.strength / 1.25, MIN_STRENGTH))
    if name == "more_steps":
        return replace(state, steps=min(state.steps + 1, state.max_steps))
    if name == "fewer_steps":
        return replace(state, steps=max(state.steps - 1, 0))
    if name == "set_steps":  # the tuner or the out-of-memory guard: its own bounds
        if action.value is None or action.value < 0:
            raise ValueError(f"set_steps needs a value of 0 or more, got {action.value}")
        return replace(state, steps=int(action.value))
    if name == "freeze":
        return replace(state, frozen=not state.frozen)
    return state


@dataclass(frozen=True)
class Status:
    """What a display shows about the running dream: one snapshot, built once per frame shown."""
    fps: float
    latency_ms: float
    frame_ms: float
    size: tuple[int, int]
    state: ShowState
    network: str
    objective: str
    backend: str
    target_fps: float | None = None

    def lines(self) -> list[str]:
        s = self.state
        tuning = f"   auto -> {self.target_fps:.0f} fps" if self.target_fps else ""
        return [
            f"{self.fps:5.1f} fps   latency {self.latency_ms:4.0f} ms   frame {self.frame_ms:4.0f} ms",
            f"dream {self.size[0]}x{self.size[1]}   {s.steps} step(s)   strength {s.strength:.2f}" + tuning
            + ("   FROZEN" if s.frozen else ""),
            f"{self.network}: {self.objective}   (preset {s.preset + 1}/{s.presets})",
            f"backend: {self.backend}",
        ]
