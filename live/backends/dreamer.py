"""The dreamer: objective presets on one network, each truncated as deep as it needs, each run through
the backend chosen for it. One random jitter roll per frame; the backend does the gradient steps.
Shared by the live show and `live-dream render`."""
from __future__ import annotations

import functools
import logging
import random
import time

import numpy as np

from live.backends.background import BackgroundBuilder
from live.backends.choice import choose_backend, probe_image
from live.core.progress import progress
from live.backends.torch_backend import TorchBackend
from live.config import MAX_ADDED_PRESETS, Config, DreamSettings, objective_of
from live.dream.featurenet import FeatureNet
from live.dream.objectives import Objective, parse_objective
from live.errors import UserError
from live.backends.engine import Network, check_dream_size, load_network, pick_device

log = logging.getLogger("live-dream")


class Dreamer:
    """Objective presets on one network, each truncated as deep as it needs, run through a backend.
    One random jitter roll per frame; the backend does the gradient steps."""

    def __init__(self, network: Network, presets: list[str], settings: DreamSettings, seed: int = -1,
                 backend: str = "torch", precision: str = "auto", builder: BackgroundBuilder | None = None):
        """`builder`: backends are made in the background while torch dreams (a running show); without
        one they are made when first asked for (render, the bench, the tests)."""
        self.network, self.settings = network, settings
        self.spec, self.device, self.guide = network.spec, network.device, network.guide
        self.kind, self.precision = backend, precision
        self.texts: list[str] = list(presets)  # each preset's objective as written: how controls name it
        self.objectives: list[Objective] = [parse_objective(text, self.spec, self.guide) for text in presets]
        self.configured = len(presets)  # the first ones come from the settings; later ones from controls
        self._used: dict[str, float] = {}  # when each objective added by a control was last dreamed
        self._nets: dict[str, tuple[FeatureNet, Objective]] = {}  # by objective text: indices shift
        self._backends: dict[tuple, object] = {}  # (objective text, size or None)
        self._before_fallback: tuple[str, dict] | None = None  # kind and backends before a fallback to torch
        self.builder = builder
        self._standing_in: set = set()  # keys whose backend is torch until the builder's is ready
        self._torch: dict[str, TorchBackend] = {}  # by objective text: what stands in (made once)
        self._cold: list = []  # (preset, size, steps) prepared but not warmed up yet (see warm_up)
        self.rng = random.Random(None if seed < 0 else seed)

    def check_objective(self, text: str) -> str:
        """`text` if it parses as an objective of this network, else ValueError with the reason (a control
        surface asked for it: the show goes on with the current one)."""
        try:
            parse_objective(text, self.spec, self.guide)
        except UserError as exc:
            raise ValueError(str(exc)) from None
        return text

    def preset_for(self, text: str) -> int:
        """The preset dreaming `text`, added if a control asked for a new objective (dream worker only:
        its backend is made at its first frame, by torch, so the picture never pauses)."""
        if text not in self.texts:
            objective = parse_objective(text, self.spec, self.guide)
            if len(self.texts) - self.configured >= MAX_ADDED_PRESETS:
                self._forget_oldest_added()
            self.objectives.append(objective)
            self.texts.append(text)
        if self.texts.index(text) >= self.configured:
            self._used[text] = time.monotonic()
        return self.texts.index(text)

    def _forget_oldest_added(self) -> None:
        """Controls may ask for any number of new objectives: the one added by them that was dreamed
        longest ago goes, with its network and backends (a flood of 300 took 760 MB that stayed)."""
        added = self.texts[self.configured:]
        oldest = min(added, key=lambda text: self._used.get(text, 0.0))
        i = self.texts.index(oldest)
        del self.texts[i], self.objectives[i]
        self._used.pop(oldest, None)
        self._nets.pop(oldest, None)
        self._torch.pop(oldest, None)
        for key in [k for k in self._backends if k[0] == oldest]:
            del self._backends[key]
        self._standing_in = {k for k in self._standing_in if k[0] != oldest}
        if self.builder is not None:
            self.builder.forget(lambda key: key[0] == oldest)
        if self._before_fallback is not None:
            for key in [k for k in self._before_fallback[1] if k[0] == oldest]:
                del self._before_fallback[1][key]
        log.info("objective %s forgotten: at most %d added by controls are kept", oldest, MAX_ADDED_PRESETS)

    def net(self, preset: int) -> tuple[FeatureNet, Objective]:
        text = self.texts[preset]
        if text not in self._nets:
            self._nets[text] = self.network.truncated(self.objectives[preset])
        return self._nets[text]

    def backend(self, preset: int, size: tuple[int, int], steps: int):
        """The backend for this preset and frame size; with 'auto', the remembered choice or a trial.
        In the background (a running show) a backend not ready yet is torch for now, and the one asked
        for takes over at the first frame after it is ready."""
        key = (self.texts[preset], size if self.kind != "torch" else None)  # the torch backend takes any size
        if self.builder is not None and (ready := self.builder.take(key)) is not None and self.kind != "torch":
            if key in self._standing_in:
                log.info("%s at %dx%d: %s takes over from torch", self.texts[preset], *size, ready.name)
            self._backends[key] = ready
            self._standing_in.discard(key)
        if key not in self._backends:
            net, objective = self.net(preset)
            if self.builder is not None and self.kind != "torch":
                # Exporting a graph or building a TensorRT engine now would freeze the picture for
                # seconds: torch dreams at once, the builder's thread makes the backend asked for.
                self._backends[key] = self._torch_backend(preset, net, objective)
                self._standing_in.add(key)
                self._ask(preset, size, steps)
            elif self.kind == "torch":
                self._backends[key] = self._torch_backend(preset, net, objective)
            else:
                self._backends[key] = choose_backend(self.kind, net, objective, self.settings, self.device, size,
                                                     max(1, steps), self.precision)
        return self._backends[key]

    def _ask(self, preset: int, size: tuple[int, int], steps: int) -> None:
        """The builder makes this preset's backend at this size (once, however often asked)."""
        net, objective = self.net(preset)
        self.builder.ask((self.texts[preset], size),
                         functools.partial(self._built_in_background, net, objective, size, steps))

    def _built_in_background(self, net, objective, size: tuple[int, int], steps: int):
        """The builder thread's job: the backend `auto` (or the kind asked for) would choose, warmed up by
        one step so that its first frame in the show is not slow."""
        backend = choose_backend(self.kind, net, objective, self.settings, self.device, size, max(1, steps),
                                 self.precision, known=self._kind_that_won(size))
        for candidate in getattr(backend, "candidates", [backend]):
            candidate.steps(probe_image(size).copy(), 1, 0.0)
        return backend

    def _kind_that_won(self, size: tuple[int, int]) -> str | None:
        """The kind of backend chosen for another objective of this network at this size, if any."""
        for key, backend in list(self._backends.items()):
            chosen = getattr(backend, "winner", backend)  # a trial counts once it has its winner
            if key[1] == size and key not in self._standing_in and getattr(chosen, "kind", None):
                return chosen.kind
        return None

    def prepare(self, size: tuple[int, int], steps: int) -> None:
        """Every preset's backend at the start size (exports and measurements happen here, with a progress
        bar); in the background (a running show), only asked for: torch dreams meanwhile."""
        if self.builder is not None:  # torch stands in for the first at once, warmed up by a step
            self.run(np.zeros((size[1], size[0], 3), np.float32), 0, max(1, steps), 0.0)
            if self.kind != "torch":  # the others' backends, asked for now (the first's was, by run)
                for i in range(1, len(self.objectives)):
                    self._ask(i, size, max(1, steps))
            self._cold = [(i, size, max(1, steps)) for i in range(1, len(self.objectives))]
            return
        for i in progress(range(len(self.objectives)), desc="preparing presets", unit="preset", leave=False):
            self.run(np.zeros((size[1], size[0], 3), np.float32), i, max(1, steps), 0.0)

    def _torch_backend(self, preset: int, net, objective) -> TorchBackend:
        """The preset's torch backend (it takes any size): the one it has already, on its own or as a
        candidate of an 'auto' trial, else a new one."""
        text = self.texts[preset]
        for (owner, _), backend in list(self._backends.items()):
            for candidate in getattr(backend, "candidates", [backend]):
                if owner == text and isinstance(candidate, TorchBackend):
                    return candidate
        if text not in self._torch:
            self._torch[text] = TorchBackend(net, objective, self.settings, self.device, self.precision)
        return self._torch[text]

    def settled(self) -> bool:
        """Every backend asked for is made and every trial that has begun has its winner (the bench
        measures from then)."""
        building = self.builder is not None and not self.builder.idle.is_set()
        return not building and not any(getattr(b, "turn", 0) and b.winner is None
                                        for b in list(self._backends.values()) if hasattr(b, "candidates"))

    def warm_up(self) -> None:
        """The other presets' first steps (a first step is slow), once the show is dreaming: in the thread
        that dreams them, since a step warmed in another thread is slow again in this one (measured: a
        crossfade's first frames took 2-3x as long)."""
        log.debug("warming up %d presets", len(self._cold))
        for preset, size, steps in self._cold:
            self.run(np.zeros((size[1], size[0], 3), np.float32), preset, steps, 0.0)
        self._cold = []

    def fall_back_to_torch(self) -> bool:
        """From now on every preset is dreamed by the torch backend (it needs no export and takes any
        size): the self-healing worker's first remedy. False if torch was dreaming them already."""
        if self.kind == "torch" and all(isinstance(b, TorchBackend) for b in self._backends.values()):
            return False
        # what stood in for a backend not built yet is asked for again if the backends are restored
        self._before_fallback = self.kind, {k: b for k, b in self._backends.items() if k not in self._standing_in}
        self._backends = {(text, None): self._torch_backend(i, *self.net(i))
                          for text, _ in self._backends for i in [self.texts.index(text)]}
        self._standing_in.clear()
        if self.builder is not None:
            self.builder.forget(lambda key: True)
        self.kind = "torch"
        return True

    def restore_backends(self) -> bool:
        """Back to the backends of before fall_back_to_torch (the failure may have had nothing to do
        with them). False if there was no fallback."""
        if self._before_fallback is None:
            return False
        (self.kind, self._backends), self._before_fallback = self._before_fallback, None
        return True

    def close(self) -> None:
        """Stops building backends in the background (the show ends)."""
        if self.builder is not None:
            self.builder.close()

    def run(self, image: np.ndarray, preset: int, steps: int, strength: float) -> np.ndarray:
        if steps <= 0:
            return image
        h, w = image.shape[:2]
        backend = self.backend(preset, (w, h), steps)
        j = self.settings.jitter
        oy, ox = self.rng.randint(-j, j), self.rng.randint(-j, j)
        rolled = np.roll(image, (oy, ox), axis=(0, 1))
        dreamed = backend.steps(rolled, steps, self.settings.step_size * strength)
        return np.roll(dreamed, (-oy, -ox), axis=(0, 1))


def presets_for(config: Config) -> list[str]:
    """The objective from [network] (if any) first, then the [live] presets."""
    first = [config.network.objective] if config.network.objective else []
    return first + [p for p in config.live.presets if p not in first]


def objectives_of(presets: list[str]) -> list[str]:
    """The objectives of these presets (scenes), each once."""
    objectives = [objective_of(p) for p in presets]
    return [o for i, o in enumerate(objectives) if o not in objectives[:i]]


def build_dreamer(config: Config, background: bool = False) -> Dreamer:
    """The network with its presets, each preset's backend ready (exports and measurements happen here);
    `background` (a running show): torch dreams at once while the backends are made in the background."""
    live = config.live
    check_dream_size((live.width, live.height), pick_device(config.network.device))  # before the weights load
    network = load_network(config.network)
    dreamer = Dreamer(network, objectives_of(presets_for(config)), config.live_settings(),
                      config.dream.seed, backend=live.backend, precision=live.precision,
                      builder=BackgroundBuilder() if background else None)
    dreamer.prepare((live.width, live.height), live.steps)
    return dreamer
