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


@dataclass(frozen=True)
class NetworkConfig:
    name: str = "lite0"
    weights: str = ""  # a local weights file instead of the cache
    objective: str = ""  # empty: the network's default layer
    guide: str = ""  # guide image for the guide objective
    device: str = "auto"  # auto | cpu | cuda


@dataclass(frozen=True)
class Config:
    network: NetworkConfig = field(default_factory=NetworkConfig)
    dream: DreamSettings = field(default_factory=DreamSettings)


SECTIONS = {"network": NetworkConfig, "dream": DreamSettings}


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
}


TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _field_type(section_cls, key):
    declared = {f.name: f.type for f in fields(section_cls)}[key]
    text = str(declared)
    return int if text.startswith("int") else float if text.startswith("float") else bool if text == "bool" else str


def convert(path: str, value):
    """Check one value against its key's type and rule; return it in the key's type."""
    section, _, key = path.partition(".")
    cls = SECTIONS.get(section)
    if cls is None or key not in {f.name for f in fields(cls)}:
        known = ", ".join(f"{s}.{f.name}" for s, c in SECTIONS.items() for f in fields(c))
        raise UserError(f"unknown setting '{path}'; known settings: {known}")
    kind = _field_type(cls, key)
    if isinstance(value, str) and kind is not str:  # from the command line
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


def load_config(path: str | Path | None = None, overrides: dict[str, object] | None = None) -> Config:
    """Defaults <- config file (if any) <- overrides ({"dream.steps": 5, ...})."""
    values: dict[str, object] = {}
    if path is not None:
        path = Path(path)
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
    return config


def parse_set_option(text: str) -> tuple[str, str]:
    """'dream.steps=5' -> ('dream.steps', '5')."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set '{text}' must look like section.key=value, e.g. dream.steps=5")
    return key.strip(), value.strip()
