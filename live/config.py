"""Settings: config.toml, then command-line overrides, validated once into one frozen object.

Each section is a dataclass whose defaults are the built-in settings; each field carries the rule for
its values beside it (`setting(default, rule)`), so a rule for a key that does not exist cannot be
written. Unknown keys and bad values stop the program at start with one line naming the key.
Importing this module needs neither torch nor OpenCV.
"""
from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from live.errors import UserError


def _choice(*allowed):
    return lambda v: v in allowed, "one of " + ", ".join(map(str, allowed))


@dataclass(frozen=True)
class Range:
    """A numeric rule; its bounds are also what controls (keys, OSC, the page, scenes) may set."""
    lo: float
    hi: float | None = None

    def __call__(self, value) -> bool:
        return value >= self.lo and (self.hi is None or value <= self.hi)

    @property
    def text(self) -> str:
        return f"at least {self.lo}" if self.hi is None else f"between {self.lo} and {self.hi}"


def _range(lo, hi=None):
    rule = Range(lo, hi)
    return rule, rule.text


def setting(default, rule=None):
    """A settings field with its rule beside it: `rule` is (check, what is allowed), e.g. _range(1, 20)."""
    return field(default=default, metadata={"rule": rule} if rule else {})


MAX_PRESETS = 64  # presets in the settings: each is prepared at start (10,000 took 15 minutes and 2 GB)
MAX_ADDED_PRESETS = 32  # presets added by controls (new objectives) that are kept; the settings' always are


def objective_of(preset: str) -> str:
    """The objective of a preset (a scene's text: "objective | strength=2 mix=0.8")."""
    return preset.partition("|")[0].strip()


def dream_size(width: float, height: float) -> tuple[int, int]:
    """THE rule for a dream resolution chosen by the program (shrunk to fit memory, or to heal): sides
    rounded down to multiples of 16 (the network's strides divide them), at least 32."""
    return max(32, int(width) // 16 * 16), max(32, int(height) // 16 * 16)


@dataclass(frozen=True)
class NetworkConfig:
    name: str = "lite0"
    weights: str = ""  # a local weights file instead of the cache
    objective: str = ""  # empty: the network's default layer
    guide: str = ""  # guide image for the guide objective
    device: str = setting("auto", _choice("auto", "cpu", "cuda", "mps"))


@dataclass(frozen=True)
class StillConfig:
    """[still]: the octaves of `live-dream still` (the live show dreams one size, a few steps a frame)."""
    steps: int = setting(10, _range(1, 10_000))  # gradient steps per octave
    step_size: float = setting(0.01, _range(0.0, 1.0))  # mean change per pixel per step, in [0, 1] image units
    octaves: int = setting(4, _range(1, 20))
    octave_scale: float = setting(1.4, _range(1.01, 4.0))
    tile: int = setting(512, _range(64, 8192))  # larger images are dreamed tile by tile: memory stays bounded
    tile_margin: int = setting(32, _range(0, 512))  # context around each tile, so tiles agree at their borders


@dataclass(frozen=True)
class RegularisersConfig:
    """[dream]: what every dream step does besides the gradient, in `still` and the live show alike."""
    jitter: int = setting(32, _range(0, 512))  # max random roll, pixels
    smoothing: str = setting("none", _choice("none", "gaussian", "laplacian"))
    smoothing_sigma: float = setting(1.0, _range(0.0, 20.0))  # for gaussian
    tv_weight: float = setting(0.0, _range(0.0, 10.0))  # share of each step spent reducing total variation
    seed: int = setting(-1, _range(-1))  # -1: a different dream every run


@dataclass(frozen=True)
class DreamSettings:
    """What the step and the octaves read: [still] and [dream] together (not a section of its own; the
    show's step size is live.step_size). Defaults are the sections' own."""
    steps: int = StillConfig.steps
    step_size: float = StillConfig.step_size
    octaves: int = StillConfig.octaves
    octave_scale: float = StillConfig.octave_scale
    jitter: int = RegularisersConfig.jitter
    smoothing: str = RegularisersConfig.smoothing
    smoothing_sigma: float = RegularisersConfig.smoothing_sigma
    tv_weight: float = RegularisersConfig.tv_weight
    tile: int = StillConfig.tile
    tile_margin: int = StillConfig.tile_margin
    seed: int = RegularisersConfig.seed


@dataclass(frozen=True)
class CaptureConfig:
    # auto | demo | camera:N | camera:NAME | video file | folder of images
    source: str = setting("auto", ((lambda v: bool(v.strip())),
                                   "auto, demo, camera:N, camera:NAME, a video file or a folder"))
    width: int = setting(1280, _range(16, 7680))  # requested from the camera (and the demo's frame size)
    height: int = setting(720, _range(16, 4320))
    fps: int = setting(30, _range(1, 240))
    mirror: bool = True  # cameras only: visitors see themselves as in a mirror
    loop: bool = True  # video files and folders start again at the end


@dataclass(frozen=True)
class LiveConfig:
    width: int = setting(320, _range(32, 7680))  # dream resolution: the network sees frames this size
    height: int = setting(240, _range(32, 4320))
    steps: int = setting(1, _range(0, 64))  # gradient steps per frame
    strength: float = setting(1.0, _range(0.05, 8.0))  # at start; it multiplies the step size (keys, OSC move it)
    mix: float = setting(1.0, _range(0.0, 1.0))  # at start: dry/wet, 0 the camera, 1 the full dream
    max_steps: int = setting(6, _range(1, 64))  # the most the steps keys may set
    step_size: float = setting(0.03, _range(0.0, 1.0))  # mean change per pixel per step (keys scale it)
    presets: tuple[str, ...] = setting(("block9", "block11", "0.5*block7 + 0.5*block12", "block5", "class:jellyfish"),
                                       ((lambda v: 0 < len(v) <= MAX_PRESETS),
                                        f"a list of 1 to {MAX_PRESETS} objectives (each is prepared at start)"))
    cycle_seconds: float = setting(0.0, _range(0.0, 86400.0))  # next preset every this many seconds; 0 = by key
    crossfade_seconds: float = setting(0.0, _range(0.0, 600.0))  # a change of preset morphs over this long; 0 = a cut
    backend: str = setting("auto", _choice("auto", "torch", "onnx", "openvino"))
    # auto (fp16 on CUDA, fp32 on CPU) | fp32 | fp16 | bf16 (torch backend)
    precision: str = setting("auto", _choice("auto", "fp32", "fp16", "bf16"))


@dataclass(frozen=True)
class TemporalSettings:
    flow: str = setting("dis", _choice("dis", "farneback", "none"))  # dis | farneback | none (plain blending)
    still_carry: float = setting(0.95, _range(0.0, 0.99))  # share of the dream carried where the scene is still
    moving_carry: float = setting(0.4, _range(0.0, 0.99))  # ... and where it moves
    motion_pixels: float = setting(1.5, _range(0.01, 100.0))  # flow (pixels/frame) counted as fully moving
    residual_limit: float = setting(0.35, _range(0.01, 1.0))  # the dream may move a pixel at most this far
    # where still, the shown dream keeps this share of itself each frame (the rest is the new dream): calm,
    # not boiling; where the scene moves it lets go at once. 0 = show every frame's dream as it is.
    shown_smoothing: float = setting(0.95, _range(0.0, 0.99))
    # where the scene stays still, the dream settles over about this many frames: its steps slow to
    # settled_pace and its fading slows more (settled_pace squared), so a still visitor sinks into a dream
    # that keeps deepening, slowly, instead of boiling. Motion brings the full pace back at once.
    settle_frames: float = setting(20.0, _range(1.0, 10000.0))
    settled_pace: float = setting(0.2, _range(0.01, 1.0))  # 1 = never settle


@dataclass(frozen=True)
class TuningConfig:
    target_fps: float = setting(0.0, _range(0.0, 240.0))  # hold this frame rate; 0 = off
    min_width: int = setting(160, _range(32, 7680))  # bounds of the tuner (height follows the aspect ratio)
    max_width: int = setting(640, _range(32, 7680))
    min_steps: int = setting(1, _range(0, 64))
    max_steps: int = setting(3, _range(1, 64))


@dataclass(frozen=True)
class DisplayConfig:
    mode: str = setting("auto", _choice("auto", "window", "headless"))  # auto: window if there is a screen
    fullscreen: bool = True
    display: int = setting(0, _range(0, 16))  # which screen, from `live-dream displays`
    window_width: int = setting(1280, _range(64, 16384))  # window size when not fullscreen
    window_height: int = setting(720, _range(64, 16384))
    vsync: bool = True
    hud: bool = False  # show the heads-up display at start (key H toggles)
    # residual: the camera frame at the output's resolution plus the dream's change, upscaled (sharp);
    # upscale: the dream itself upscaled (the soft look). Window, recording, snapshots and render alike.
    composite: str = setting("residual", _choice("residual", "upscale"))
    # every new camera frame shown at once, with the newest dream carried to it along the optical flow
    # (the picture at the camera's rate, the dream at its own); false: each dreamed frame as it comes
    decoupled: bool = True


@dataclass(frozen=True)
class RecordConfig:
    path: str = ""  # write the output video here (.mp4); "" = no recording
    fps: float = setting(30.0, _range(1.0, 240.0))  # frames are repeated or skipped to keep real time
    width: int = setting(640, _range(16, 7680))  # recorded frame size (the dream is upscaled smoothly)
    height: int = setting(480, _range(16, 4320))
    snapshot_dir: str = "snapshots"  # where the snapshot key writes PNGs


@dataclass(frozen=True)
class BeatConfig:
    bpm: float = setting(120.0, _range(20.0, 300.0))  # the tempo at start (tap tempo and /live-dream/bpm change it)
    pulse: str = setting("none", _choice("none", "strength", "mix"))  # what pulses on the beat
    shape: str = setting("decay", _choice("decay", "sine", "square"))  # decay: a hit on each beat
    depth: float = setting(0.5, _range(0.0, 1.0))  # how far the pulse dips between beats (1: to nothing)
    link: bool = False  # join an Ableton Link session: its tempo and beat (needs the link extra)


@dataclass(frozen=True)
class NdiConfig:
    output: str = ""  # send the shown picture as an NDI source with this name; "" = no NDI out (needs the ndi extra)
    width: int = setting(1280, _range(16, 7680))  # the size it is sent at (the composite is built at this size
    height: int = setting(720, _range(16, 4320))  # when NDI is the first output)
    fps: float = setting(30.0, _range(1.0, 240.0))  # the frame rate it announces


@dataclass(frozen=True)
class VirtualCamConfig:
    enabled: bool = False  # show the picture as a webcam too (needs the virtualcam extra; v4l2loopback on Linux)
    device: str = ""  # which one, e.g. /dev/video10; "" = the first free one
    width: int = setting(1280, _range(16, 7680))  # the size it is sent at
    height: int = setting(720, _range(16, 4320))  # (and its height)
    fps: float = setting(30.0, _range(1.0, 240.0))  # the frame rate it announces


@dataclass(frozen=True)
class InstallationConfig:
    # unattended: no HUD, no snapshot key, the cursor hidden, no file written (snapshots, MIDI learn) and
    # nothing listening beyond this machine unless a setting asks for it (--installation does the same)
    enabled: bool = False
    stale_seconds: float = setting(5.0, _range(0.5, 3600.0))  # a camera repeating one frame this long is reopened
    reconnect_max_seconds: float = setting(10.0, _range(0.5, 600.0))  # reopening backs off up to this interval
    idle_seconds: float = setting(60.0, _range(0.0, 86400.0))  # nobody moved this long: the attract loop; 0 = never
    attract_fade: float = setting(4.0, _range(0.0, 60.0))  # seconds to fade into the attract loop
    attract_zoom: float = setting(0.04, _range(0.0, 1.0))  # the attract loop zooms in this much per second
    attract_scene_seconds: float = setting(30.0, _range(1.0, 86400.0))  # it drifts to the next scene this often
    motion_share: float = setting(0.005, _range(0.0001, 1.0))  # share of the picture that must change to count as motion
    resume: bool = True  # keep the scene, strength and mix (no image) and resume them after a restart


@dataclass(frozen=True)
class ScheduleConfig:
    # opening hours, e.g. "Mon-Fri 10:00-18:00; Sat,Sun 11:00-17:00"; "" = always open. Closed: black,
    # no dreaming, the camera closed
    hours: str = ""
    fade_seconds: float = setting(5.0, _range(0.0, 600.0))  # fade to black at closing (and up at opening)


@dataclass(frozen=True)
class ShareConfig:
    spout: str = ""  # Windows: share the picture as a Spout sender with this name (needs the spout extra)
    syphon: str = ""  # macOS: share it as a Syphon server with this name (needs the syphon extra)
    width: int = setting(1280, _range(16, 7680))  # the size it is shared at
    height: int = setting(720, _range(16, 4320))  # (and its height)


@dataclass(frozen=True)
class AudioConfig:
    device: str = ""  # an audio input: its name, part of it, or "default"; "" = no audio
    modulate: str = setting("strength", _choice("strength", "mix"))  # what the band's level drives
    band: str = setting("low", _choice("low", "mid", "high"))  # low: kick and bass; high: hats
    depth: float = setting(0.5, _range(0.0, 1.0))  # how far the parameter dips when the band is silent
    attack: float = setting(0.01, _range(0.0, 10.0))  # seconds for the level to rise
    release: float = setting(0.3, _range(0.0, 10.0))  # seconds for it to fall


@dataclass(frozen=True)
class MidiConfig:
    port: str = ""  # a MIDI input: its name or part of it, or "auto" (the first); "" = no MIDI
    cc: str = ""  # knobs and faders: "CC: action low..high; ...", e.g. "1: strength 0.05..4; 7: mix 0..1"
    notes: str = ""  # pads and keys: "NOTE: action; ...", e.g. "36: next; 37: prev; 38: freeze"
    learned_file: str = "midi-learned.json"  # what learn mode maps is kept here ("" = not kept)


@dataclass(frozen=True)
class ControlConfig:
    osc_port: int = setting(0, _range(0, 65535))  # receive OSC on this UDP port; 0 = off
    osc_host: str = "127.0.0.1"  # OSC has no authentication: another address exposes the show to that network
    status_to: str = ""  # send the status once a second over OSC to this host:port, e.g. 127.0.0.1:9001
    http_port: int = setting(0, _range(0, 65535))  # health, actions and the control page on this port; 0 = off
    http_host: str = "127.0.0.1"  # any other address requires control.token
    token: str = ""  # required on HTTP actions when set (and to bind HTTP beyond this machine)
    name: str = ""  # this show's name in /metrics and to `live-dream shows` ("" = the computer's name)
    announce: bool = False  # bound beyond loopback: say over mDNS that this show is here (the fleet extra)


@dataclass(frozen=True)
class Config:
    network: NetworkConfig = field(default_factory=NetworkConfig)
    still: StillConfig = field(default_factory=StillConfig)
    dream: RegularisersConfig = field(default_factory=RegularisersConfig)
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    live: LiveConfig = field(default_factory=LiveConfig)
    temporal: TemporalSettings = field(default_factory=TemporalSettings)
    tuning: TuningConfig = field(default_factory=TuningConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)
    record: RecordConfig = field(default_factory=RecordConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    beat: BeatConfig = field(default_factory=BeatConfig)
    midi: MidiConfig = field(default_factory=MidiConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    ndi: NdiConfig = field(default_factory=NdiConfig)
    virtualcam: VirtualCamConfig = field(default_factory=VirtualCamConfig)
    share: ShareConfig = field(default_factory=ShareConfig)
    installation: InstallationConfig = field(default_factory=InstallationConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)

    def still_settings(self) -> DreamSettings:
        """The settings `still` dreams with: [still] and [dream]."""
        return DreamSettings(**_values(self.still), **_values(self.dream))

    def live_settings(self) -> DreamSettings:
        """The settings the live show (and render, bench) steps with: [dream], at live.step_size."""
        return DreamSettings(**_values(self.dream), step_size=self.live.step_size)


def _values(section) -> dict:
    return {f.name: getattr(section, f.name) for f in fields(section)}


SECTIONS = {f.name: f.default_factory for f in fields(Config)}
# Keys that moved: an old config.toml (or --set) still works, with one line naming the new key.
RENAMED = {f"dream.{key}": f"still.{key}" for key in ("steps", "step_size", "octaves", "octave_scale", "tile",
                                                      "tile_margin")}


def bounds(key: str) -> tuple[float, float | None]:
    """The range a setting's rule allows, e.g. bounds("beat.bpm") == (20.0, 300.0): the one home of the
    numbers that controls may set too."""
    section, _, name = key.partition(".")
    rule = next(f for f in fields(SECTIONS[section]) if f.name == name).metadata["rule"][0]
    return rule.lo, rule.hi


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
    rule = next(f for f in fields(cls) if f.name == key).metadata.get("rule")
    check, allowed = rule or (lambda v: True, "")
    if not check(value):
        shown = repr(value) if len(repr(value)) <= 120 else repr(value)[:117] + "..."
        raise UserError(f"setting {path} = {shown} is not allowed; use {allowed}")
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
    """Defaults <- config file (if any) <- overrides ({"still.steps": 5, ...})."""
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
    for dotted, value in _renamed(values).items():
        value = convert(dotted, value)
        section, _, key = dotted.partition(".")
        config = replace(config, **{section: replace(getattr(config, section), **{key: value})})
    _check_order(config)
    return config


def _renamed(values: dict) -> dict:
    """Old keys read as their new names, each with one line saying so."""
    out = {}
    for dotted, value in values.items():
        if dotted in RENAMED:
            logging.getLogger("live-dream").warning("setting %s is now %s; read as such (rename it in your "
                                                    "config.toml or --set)", dotted, RENAMED[dotted])
            dotted = RENAMED[dotted]
        out[dotted] = value
    return out


def parse_set_option(text: str) -> tuple[str, str]:
    """'still.steps=5' -> ('still.steps', '5')."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set '{text}' must look like section.key=value, e.g. live.steps=2")
    return key.strip(), value.strip()
