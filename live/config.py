"""Settings: config.toml, then command-line overrides, validated once into one frozen object.

Each section is a dataclass whose defaults are the built-in settings; `RULES` says which values a
key allows. Unknown keys and bad values stop the program at start with one line naming the key.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from .dream import DreamSettings
from .errors import UserError
from .temporal import TemporalSettings


@dataclass(frozen=True)
class NetworkConfig:
    name: str = "lite0"
    weights: str = ""  # a local weights file instead of the cache
    objective: str = ""  # empty: the network's default layer
    guide: str = ""  # guide image for the guide objective
    device: str = "auto"  # auto | cpu | cuda


@dataclass(frozen=True)
class CaptureConfig:
    source: str = "auto"  # auto | demo | camera:N | camera:NAME | video file | folder of images
    width: int = 1280  # requested from the camera (and the demo's frame size)
    height: int = 720
    fps: int = 30
    mirror: bool = True  # cameras only: visitors see themselves as in a mirror
    loop: bool = True  # video files and folders start again at the end


@dataclass(frozen=True)
class LiveConfig:
    width: int = 320  # dream resolution: the network sees frames this size
    height: int = 240
    steps: int = 1  # gradient steps per frame
    max_steps: int = 6  # the most the steps keys may set
    step_size: float = 0.03  # mean change per pixel per step (the strength keys scale it)
    presets: tuple[str, ...] = ("block9", "block11", "0.5*block7 + 0.5*block12", "block5", "class:jellyfish")
    cycle_seconds: float = 0.0  # move to the next preset every this many seconds; 0 = only by key
    backend: str = "auto"  # auto | torch | onnx
    precision: str = "auto"  # auto (fp16 on CUDA, fp32 on CPU) | fp32 | fp16 | bf16 (torch backend)


@dataclass(frozen=True)
class TuningConfig:
    target_fps: float = 0.0  # hold this frame rate by changing dream resolution and steps; 0 = off
    min_width: int = 160  # bounds the tuner stays within (height follows the dream's aspect ratio)
    max_width: int = 640
    min_steps: int = 1
    max_steps: int = 3


@dataclass(frozen=True)
class DisplayConfig:
    mode: str = "auto"  # auto (window if a screen is there, else headless) | window | headless
    fullscreen: bool = True
    display: int = 0  # which screen, from `live-dream displays`
    window_width: int = 1280  # window size when not fullscreen
    window_height: int = 720
    vsync: bool = True
    hud: bool = False  # show the heads-up display at start (key H toggles)


@dataclass(frozen=True)
class RecordConfig:
    path: str = ""  # write the output video here (.mp4); "" = no recording
    fps: float = 30.0  # the recording's frame rate; frames are repeated or skipped to keep real time
    width: int = 640  # recorded frame size (the dream is upscaled smoothly)
    height: int = 480
    snapshot_dir: str = "snapshots"  # where the snapshot key writes PNGs


@dataclass(frozen=True)
class Config:
    network: NetworkConfig = field(default_factory=NetworkConfig)
    dream: DreamSettings = field(default_factory=DreamSettings)
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    live: LiveConfig = field(default_factory=LiveConfig)
    temporal: TemporalSettings = field(default_factory=TemporalSettings)
    tuning: TuningConfig = field(default_factory=TuningConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)
    record: RecordConfig = field(default_factory=RecordConfig)


SECTIONS = {"network": NetworkConfig, "dream": DreamSettings, "capture": CaptureConfig, "live": LiveConfig,
            "temporal": TemporalSettings, "tuning": TuningConfig, "display": DisplayConfig, "record": RecordConfig}


def _choice(*allowed):
    return lambda v: v in allowed, "one of " + ", ".join(map(str, allowed))


def _range(lo, hi=None):
    text = f"at least {lo}" if hi is None else f"between {lo} and {hi}"
    return (lambda v: v >= lo and (hi is None or v <= hi)), text


RULES = {
    "network.device": _choice("auto", "cpu", "cuda"),
    "dream.steps": _range(1, 10_000),
    "dream.step_size": _range(0.0, 1.0),
    "dream.octaves": _range(1, 20),
    "dream.octave_scale": _range(1.01, 4.0),
    "dream.jitter": _range(0, 512),
    "dream.smoothing": _choice("none", "gaussian", "laplacian"),
    "dream.smoothing_sigma": _range(0.0, 20.0),
    "dream.tv_weight": _range(0.0, 10.0),
    "dream.tile": _range(64, 8192),
    "dream.tile_margin": _range(0, 512),
    "dream.seed": _range(-1),  # -1: a different dream every run
    "capture.source": ((lambda v: bool(v.strip())), "auto, demo, camera:N, camera:NAME, a video file or a folder"),
    "capture.width": _range(16, 7680),
    "capture.height": _range(16, 4320),
    "capture.fps": _range(1, 240),
    "live.width": _range(32, 7680),
    "live.height": _range(32, 4320),
    "live.steps": _range(0, 64),
    "live.max_steps": _range(1, 64),
    "live.step_size": _range(0.0, 1.0),
    "live.presets": ((lambda v: len(v) > 0), "a list of one or more objectives"),
    "live.cycle_seconds": _range(0.0, 86400.0),
    "live.backend": _choice("auto", "torch", "onnx"),
    "live.precision": _choice("auto", "fp32", "fp16", "bf16"),
    "tuning.target_fps": _range(0.0, 240.0),
    "tuning.min_width": _range(32, 7680),
    "tuning.max_width": _range(32, 7680),
    "tuning.min_steps": _range(0, 64),
    "tuning.max_steps": _range(1, 64),
    "temporal.flow": _choice("dis", "farneback", "none"),
    "temporal.still_carry": _range(0.0, 0.99),
    "temporal.moving_carry": _range(0.0, 0.99),
    "temporal.motion_pixels": _range(0.01, 100.0),
    "temporal.residual_limit": _range(0.01, 1.0),
    "display.mode": _choice("auto", "window", "headless"),
    "display.display": _range(0, 16),
    "display.window_width": _range(64, 16384),
    "display.window_height": _range(64, 16384),
    "record.fps": _range(1.0, 240.0),
    "record.width": _range(16, 7680),
    "record.height": _range(16, 4320),
}


TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
              tuple: "a list of strings"}


def _field_type(section_cls, key):
    declared = {f.name: f.type for f in fields(section_cls)}[key]
    text = str(declared)
    if text.startswith("tuple"):
        return tuple
    return int if text.startswith("int") else float if text.startswith("float") else bool if text == "bool" else str


def convert(path: str, value):
    """Check one value against its key's type and rule; return it in the key's type."""
    section, _, key = path.partition(".")
    cls = SECTIONS.get(section)
    if cls is None or key not in {f.name for f in fields(cls)}:
        known = ", ".join(f"{s}.{f.name}" for s, c in SECTIONS.items() for f in fields(c))
        raise UserError(f"unknown setting '{path}'; known settings: {known}")
    kind = _field_type(cls, key)
    if kind is tuple:  # a TOML array of strings, or "a; b; c" from the command line
        if isinstance(value, str):
            value = [part.strip() for part in value.split(";") if part.strip()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = tuple(value)
    elif isinstance(value, str) and kind is not str:  # from the command line
        try:
            value = {"true": True, "false": False}[value.lower()] if kind is bool else kind(value)
        except (KeyError, ValueError):
            raise UserError(f"setting {path} = '{value}' is not {TYPE_NAMES[kind]}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise UserError(f"setting {path} = {value!r} is not {TYPE_NAMES[kind]}")
    check, allowed = RULES.get(path, (lambda v: True, ""))
    if not check(value):
        raise UserError(f"setting {path} = {value!r} is not allowed; use {allowed}")
    return value


# Rules between two keys: (lower key, upper key); each pair must be in order.
ORDERED = [("tuning.min_width", "tuning.max_width"), ("tuning.min_steps", "tuning.max_steps")]


def _check_order(config: Config) -> None:
    for low, high in ORDERED:
        values = [getattr(getattr(config, key.split(".")[0]), key.split(".")[1]) for key in (low, high)]
        if values[0] > values[1]:
            raise UserError(f"setting {low} = {values[0]} is larger than {high} = {values[1]}; "
                            f"make {low} the smaller")


def load_config(path: str | Path | None = None, overrides: dict[str, object] | None = None) -> Config:
    """Defaults <- config file (if any) <- overrides ({"dream.steps": 5, ...})."""
    values: dict[str, object] = {}
    if path is not None:
        path = Path(path)
        if path.is_dir():
            raise UserError(f"config file {path} is a folder; pass a settings file with --config")
        if not path.is_file():
            raise UserError(f"config file {path} does not exist; pass an existing file with --config")
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"config file {path} is not valid TOML ({exc})") from None
        for section, table in data.items():
            if not isinstance(table, dict):
                raise UserError(f"config file {path}: '{section}' must be a [section]; "
                                f"sections: {', '.join(SECTIONS)}")
            for key, value in table.items():
                values[f"{section}.{key}"] = value
    values.update(overrides or {})
    config = Config()
    for dotted, value in values.items():
        value = convert(dotted, value)
        section, _, key = dotted.partition(".")
        config = replace(config, **{section: replace(getattr(config, section), **{key: value})})
    _check_order(config)
    return config


def parse_set_option(text: str) -> tuple[str, str]:
    """'dream.steps=5' -> ('dream.steps', '5')."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set '{text}' must look like section.key=value, e.g. dream.steps=5")
    return key.strip(), value.strip()
