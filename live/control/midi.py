"""MIDI in (mido + python-rtmidi, the `midi` extra): knobs and faders (control change) set a parameter
across a range, pads and keys (note on) trigger an action. The mapping is in the settings; learn mode
maps by touch: ask to learn an action (`/live-dream/learn mix`, or the page), then move a knob.

    midi.cc    = "1: strength 0.05..4; 7: mix 0..1"      CC number: action low..high
    midi.notes = "36: next; 37: prev; 38: freeze"      note number: action
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from live.control.actions import ADDRESSES, Action
from live.control.bus import ControlBus
from live.errors import UserError, require_extra
from live.core.files import read_json_dict, write_json

log = logging.getLogger("live-dream")
INSTALL = "MIDI needs the midi extra: pip install -e '.[midi]' (mido and python-rtmidi)"
# The range a learned knob gets, per action that takes a number.
LEARN_RANGES = {"strength": (0.05, 4.0), "mix": (0.0, 1.0), "steps": (0.0, 6.0), "crossfade": (0.0, 10.0),
                "bpm": (60.0, 180.0), "preset": (1.0, 8.0)}


@dataclass(frozen=True)
class Knob:
    action: str
    low: float
    high: float

    def value(self, midi_value: int) -> float:
        value = self.low + (self.high - self.low) * midi_value / 127
        return round(value) if self.action in ("steps", "preset") else round(value, 4)


def parse_cc(text: str) -> dict[int, Knob]:
    knobs = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        m = re.fullmatch(r"(\d+)\s*:\s*([a-z_]+)\s+(-?[\d.]+)\s*\.\.\s*(-?[\d.]+)", part)
        if not m or not 0 <= int(m[1]) <= 127 or m[2] not in ADDRESSES:
            raise UserError(f"midi.cc '{part}' must look like 'CC: action low..high' with CC 0-127, e.g. "
                            f"'7: mix 0..1'; actions: {', '.join(ADDRESSES)}")
        knobs[int(m[1])] = Knob(m[2], float(m[3]), float(m[4]))
    return knobs


def parse_notes(text: str) -> dict[int, str]:
    pads = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        m = re.fullmatch(r"(\d+)\s*:\s*([a-z_]+)", part)
        if not m or not 0 <= int(m[1]) <= 127 or m[2] not in ADDRESSES:
            raise UserError(f"midi.notes '{part}' must look like 'NOTE: action' with NOTE 0-127, e.g. "
                            f"'36: next'; actions: {', '.join(ADDRESSES)}")
        pads[int(m[1])] = m[2]
    return pads


class MidiMap:
    """Messages to actions, and learn mode. `learned_file` keeps what was learned across restarts."""

    def __init__(self, cc: str = "", notes: str = "", learned_file: str = ""):
        self.knobs, self.pads = parse_cc(cc), parse_notes(notes)
        self.learned_file, self.learning = learned_file, None
        if learned_file:
            learned = read_json_dict(Path(learned_file))
            try:
                self.knobs.update({int(k): Knob(*v) for k, v in learned.get("cc", {}).items()})
                self.pads.update({int(k): v for k, v in learned.get("notes", {}).items() if v in ADDRESSES})
            except (TypeError, ValueError, AttributeError):
                log.warning("MIDI: %s is not a learned mapping; learn again to rewrite it", learned_file)

    def learn(self, action: str) -> None:
        if action not in ADDRESSES:
            raise ValueError(f"learn needs an action to map, one of {', '.join(ADDRESSES)}; got {action!r}")
        self.learning = action
        log.info("MIDI learn: move a knob or hit a pad for %s", action)

    def action(self, message) -> tuple[str, Action] | None:
        """(coalescing key, action) for a mido message, or None if it maps to nothing."""
        if message.type == "control_change":
            if self.learning:
                low, high = LEARN_RANGES.get(self.learning, (0.0, 1.0))
                self._learned("cc", message.control, Knob(self.learning, low, high))
            knob = self.knobs.get(message.control)
            if knob:
                return f"cc{message.control}", Action(knob.action, knob.value(message.value), source="midi")
        elif message.type == "note_on" and message.velocity > 0:
            if self.learning:
                self._learned("notes", message.note, self.learning)
            name = self.pads.get(message.note)
            if name:
                return "", Action(name, source="midi")
        return None

    def _learned(self, kind: str, number: int, target) -> None:
        (self.knobs if kind == "cc" else self.pads)[number] = target
        log.info("MIDI learn: %s %d -> %s", "CC" if kind == "cc" else "note", number,
                 target.action if kind == "cc" else target)
        self.learning = None
        if self.learned_file:
            try:
                write_json(self.learned_file, {
                    "cc": {str(k): [v.action, v.low, v.high] for k, v in self.knobs.items()},
                    "notes": {str(k): v for k, v in self.pads.items()}})
            except (OSError, UserError) as exc:  # the mapping still works for this show
                log.error("MIDI learn not saved: %s", exc)


class MidiInput:
    """Opens a MIDI input port (a name, a part of one, or 'auto': the first) and posts its actions."""
    name = "midi"

    def __init__(self, bus: ControlBus, mapping: MidiMap, port: str):
        mido = require_extra("mido", INSTALL)
        self.bus, self.mapping = bus, mapping
        try:
            names = mido.get_input_names()
        except Exception as exc:  # rtmidi: no ALSA sequencer, CoreMIDI or WinMM here
            raise UserError(f"MIDI: no MIDI system on this machine ({str(exc).splitlines()[0]}); "
                            "run without midi.port") from None
        chosen = next((n for n in names if port == "auto" or port.lower() in n.lower()), None)
        if chosen is None:
            raise UserError(f"MIDI: no input port matching '{port}'; ports here: {', '.join(names) or 'none'}")
        self.port = mido.open_input(chosen, callback=self.received)
        log.info("MIDI: listening on %s", chosen)

    def received(self, message) -> None:
        try:
            mapped = self.mapping.action(message)
        except Exception:  # a show never stops for a stray message
            log.warning("MIDI %s ignored", message, exc_info=True)
            return
        if mapped:
            key, action = mapped
            self.bus.post_latest(key, action) if key else self.bus.post(action)

    def start(self) -> "MidiInput":
        return self

    def close(self) -> None:
        self.port.close()
