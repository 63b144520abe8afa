"""Scenes: a preset is an objective, optionally with the numbers that go with it.

    "block9"                                         the objective alone: strength, mix, steps stay as they are
    "class:jellyfish | strength=1.5 mix=0.8 steps=2"  a scene: changing to it sets these too
    "block5 | still_carry=0.99 shown_smoothing=0.8"   ... and how the dream carries over time (temporal.*)

During a crossfade the numbers move from the old scene's to the new one's as the dream morphs.
"""
from __future__ import annotations

from dataclasses import dataclass

from live.config import bounds
from live.errors import UserError

# the numbers a scene may set, within the rules of the settings they start from
NUMBERS = {name: bounds(f"live.{name}") for name in ("strength", "mix", "steps")}
# temporal settings a scene may set (the rest of [temporal] stays as configured)
TEMPORAL = {name: bounds(f"temporal.{name}") for name in ("still_carry", "moving_carry", "residual_limit",
                                                          "shown_smoothing", "settle_frames", "settled_pace")}


@dataclass(frozen=True)
class Scene:
    objective: str
    strength: float | None = None
    mix: float | None = None
    steps: int | None = None
    temporal: tuple[tuple[str, float], ...] = ()  # (key, value) for TemporalSettings


def parse_scene(text: str) -> Scene:
    objective, _, rest = text.partition("|")
    values: dict[str, float] = {}
    temporal: list[tuple[str, float]] = []
    for item in rest.split():
        key, sep, value = item.partition("=")
        bounds = {**NUMBERS, **TEMPORAL}
        if not sep or key not in bounds:
            raise UserError(f"preset '{text}': '{item}' must be one of {', '.join(k + '=N' for k in bounds)}")
        low, high = bounds[key]
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not low <= number <= high:
            raise UserError(f"preset '{text}': {key} must be a number from {low:g} to {high:g}, got '{value}'")
        if key in TEMPORAL:
            temporal.append((key, number))
        else:
            values[key] = round(number) if key == "steps" else number
    if not objective.strip():
        raise UserError(f"preset '{text}' has no objective before '|'; e.g. 'block9 | strength=1.5'")
    return Scene(objective.strip(), **values, temporal=tuple(temporal))
