"""The show state: one immutable value, changed only by applying actions to it (`apply`), and the
status snapshot that displays read.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from live.control.actions import Action
from live.config import MAX_ADDED_PRESETS, bounds, objective_of
from live.control.scenes import Scene, parse_scene

MIN_STRENGTH, MAX_STRENGTH = bounds("live.strength")  # the settings' rules are the controls' ranges
MIN_BPM, MAX_BPM = bounds("beat.bpm")
TAPS_KEPT, TAP_GAP_S = 4, 2.0  # tap tempo: the last taps no more than this far apart


@dataclass(frozen=True)
class ShowState:
    presets: tuple[str, ...] = ("block9",)  # the presets (scenes), as text: "objective [| strength=N mix=N steps=N]"
    preset: int = 0
    strength: float = 1.0  # multiplies the step size
    mix: float = 1.0  # 0: the camera, 1: the full dream
    steps: int = 1  # gradient steps per frame
    max_steps: int = 6  # the most steps a control may set
    frozen: bool = False  # keep dreaming on the current frame; new frames are dropped
    blackout: bool = False  # fade to black
    crossfade_seconds: float = 0.0
    bpm: float = 120.0
    taps: tuple[float, ...] = ()
    fade_from: str | None = None  # the objective a crossfade started from (None: no fade)
    fade_started: float = 0.0  # when it started (time.monotonic)
    fade_numbers: tuple[float, float, float] | None = None  # strength, mix, steps when it started
    configured: int = 0  # how many of the presets come from the settings (0: all); later ones came from controls

    @property
    def objective(self) -> str:
        return objective_of(self.presets[self.preset])

    @property
    def scene(self) -> Scene:
        return parse_scene(self.presets[self.preset])


def with_scene(state: ShowState) -> ShowState:
    """The state with its scene's numbers: those the scene gives; the others stay as they are."""
    scene = state.scene
    return replace(state, strength=state.strength if scene.strength is None else scene.strength,
                   mix=state.mix if scene.mix is None else scene.mix,
                   steps=state.steps if scene.steps is None else min(scene.steps, state.max_steps))


def apply(state: ShowState, action: Action, check_objective=lambda text: text) -> ShowState:
    """The state after `action` (ValueError, with the reason, if its value is bad); effects (snapshot,
    quit, ...) leave it as it is. `check_objective` parses an objective's text (ValueError if it cannot)."""
    new = _applied(state, action, check_objective)
    if new.preset != state.preset or new.presets != state.presets:
        new = with_scene(new)
    if new.objective != state.objective and state.crossfade_seconds > 0:  # the dream morphs into the new one
        # from where the numbers are now (mid-fade, somewhere between two scenes)
        new = replace(new, fade_from=state.objective, fade_started=action.at, fade_numbers=blended(state, action.at))
    return new


def blended(state: ShowState, now: float) -> tuple[float, float, float]:
    """Strength, mix and steps as they are at `now`: moving from the old scene's to the new one's during a
    crossfade (steps as a number: round it where whole steps are needed)."""
    target = (state.strength, state.mix, float(state.steps))
    if state.fade_numbers is None:
        return target
    w = fade_weight(state, now)
    return tuple(a + (b - a) * w for a, b in zip(state.fade_numbers, target))


def fade_weight(state: ShowState, now: float) -> float:
    """How far the crossfade into the current objective has come: 0 at its start, 1 when done (or none)."""
    if state.fade_from is None or state.crossfade_seconds <= 0:
        return 1.0
    return min(max((now - state.fade_started) / state.crossfade_seconds, 0.0), 1.0)


def _applied(state: ShowState, action: Action, check_objective) -> ShowState:
    # One branch of one or two lines per action, in the order of the address space: long, but the
    # whole of what any control can do to the show reads in one place.
    name, value = action.name, action.value
    if name == "next":
        return replace(state, preset=(state.preset + 1) % len(state.presets))
    if name == "prev":
        return replace(state, preset=(state.preset - 1) % len(state.presets))
    if name == "preset":
        return replace(state, preset=_preset_index(state, value))
    if name == "stronger":
        return replace(state, strength=min(state.strength * 1.25, MAX_STRENGTH))
    if name == "weaker":
        return replace(state, strength=max(state.strength / 1.25, MIN_STRENGTH))
    if name == "strength":
        return replace(state, strength=_number(name, value, MIN_STRENGTH, MAX_STRENGTH))
    if name == "mix":
        return replace(state, mix=_number(name, value, *bounds("live.mix")))
    if name == "more_steps":
        return replace(state, steps=min(state.steps + 1, state.max_steps))
    if name == "fewer_steps":
        return replace(state, steps=max(state.steps - 1, 0))
    if name == "steps":
        return replace(state, steps=round(_number(name, value, 0, state.max_steps)))
    if name == "set_steps":  # the tuner or the out-of-memory guard: its own bounds
        return replace(state, steps=round(_number(name, value, *bounds("live.steps"))))
    if name == "freeze":
        return replace(state, frozen=_switch(name, value, state.frozen))
    if name == "blackout":
        return replace(state, blackout=_switch(name, value, state.blackout))
    if name == "crossfade":
        return replace(state, crossfade_seconds=_number(name, value, *bounds("live.crossfade_seconds")))
    if name == "bpm":
        return replace(state, bpm=_number(name, value, MIN_BPM, MAX_BPM))
    if name == "tap":
        taps = tuple(t for t in state.taps if action.at - t <= TAP_GAP_S * (TAPS_KEPT - 1))[-(TAPS_KEPT - 1):]
        taps += (action.at,)
        if len(taps) >= 2 and (taps[-1] - taps[0]) / (len(taps) - 1) > 0:
            bpm = 60.0 * (len(taps) - 1) / (taps[-1] - taps[0])
            if MIN_BPM <= bpm <= MAX_BPM:
                return replace(state, taps=taps, bpm=round(bpm, 2))
        return replace(state, taps=taps)
    if name == "objective":
        if not isinstance(value, str) or not value.strip():
            raise ValueError("objective needs a text, e.g. block9 or 0.7*block8 + 0.3*block11")
        text = check_objective(value.strip())
        if text in [objective_of(p) for p in state.presets]:
            return replace(state, preset=[objective_of(p) for p in state.presets].index(text))
        return _with_added_preset(state, text)
    return state


def shown(value) -> str:
    """A value as a log line shows it: a client may send 64 KB."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _with_added_preset(state: ShowState, text: str) -> ShowState:
    """The state dreaming a new objective a control asked for, kept as a preset; of those added by
    controls at most MAX_ADDED_PRESETS stay (the oldest goes; never the one being dreamed)."""
    configured = state.configured or len(state.presets)
    presets = list(state.presets)
    if len(presets) - configured >= MAX_ADDED_PRESETS:
        del presets[next(i for i in range(configured, len(presets)) if i != state.preset)]
    return replace(state, presets=tuple(presets) + (text,), preset=len(presets), configured=configured)


def _number(name: str, value, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{name} needs a number from {low:g} to {high:g}, got {shown(value)}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int of 400 digits
        raise ValueError(f"{name} needs a number from {low:g} to {high:g}, got {shown(value)}") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(f"{name} needs a number from {low:g} to {high:g}, got {shown(value)}")
    return number


def _switch(name: str, value, current: bool) -> bool:
    if value is None or value == "":
        return not current
    if value in (0, 1, "0", "1", True, False, "true", "false", 0.0, 1.0):
        return value in (1, "1", True, "true", 1.0)
    raise ValueError(f"{name} needs 0 or 1 (or nothing, to toggle), got {shown(value)}")


def _preset_index(state: ShowState, value) -> int:
    names = [objective_of(p) for p in state.presets]
    if isinstance(value, str) and value.strip() in state.presets + tuple(names):
        return (state.presets.index(value.strip()) if value.strip() in state.presets
                else names.index(value.strip()))
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"preset needs a number from 1 to {len(state.presets)} or a preset's objective "
                         f"({', '.join(state.presets)[:200]}), got {shown(value)}") from None
    if not math.isfinite(number) or number != int(number) or not 1 <= number <= len(state.presets):
        raise ValueError(f"preset needs a number from 1 to {len(state.presets)}, got {shown(value)}")
    return int(number) - 1


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
    dream_hz: float | None = None  # decoupled: the dream's own rate (the picture's is fps)

    @property
    def dream_rate(self) -> float:
        """Dreams per second: coupled, every frame shown is one."""
        return self.fps if self.dream_hz is None else self.dream_hz

    def lines(self) -> list[str]:
        s = self.state
        tuning = f"   auto -> {self.target_fps:.0f} fps" if self.target_fps else ""
        return [
            f"{self.fps:5.1f} fps   latency {self.latency_ms:4.0f} ms   frame {self.frame_ms:4.0f} ms"
            + (f"   dream {self.dream_hz:4.1f} Hz" if self.dream_hz is not None else ""),
            f"dream {self.size[0]}x{self.size[1]}   {s.steps} step(s)   strength {s.strength:.2f}"
            + (f"   mix {s.mix:.2f}" if s.mix < 1 else "") + tuning + ("   FROZEN" if s.frozen else ""),
            f"{self.network}: {self.objective}   (preset {s.preset + 1}/{len(s.presets)})",
            f"backend: {self.backend}",
        ]
