"""The window: the dream upscaled to the screen (pygame), an optional HUD, and the keys.

An output like any other (open / send / close). Runs on the main thread (SDL wants that). `poll()`
turns key presses into actions for the control bus; fullscreen and the HUD are the window's own
business, so it handles those itself.
"""
from __future__ import annotations

import os
import warnings

import numpy as np

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # no banner on our terminal

from live.outputs.contract import Output
from live.config import DisplayConfig
from live.errors import UserError
from live.control.actions import Action
from live.control.keys import HELP, KEYS
from live.control.state import Status
from live.core.imageio import fit_cover

def screen_available() -> bool:
    """Is there a screen to open a window on? (An explicit SDL driver counts: tests use 'dummy'.)"""
    if os.environ.get("SDL_VIDEODRIVER"):
        return True
    if os.name == "nt" or os.uname().sysname == "Darwin":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def list_displays() -> list[tuple[int, int]]:
    import pygame
    pygame.display.init()
    try:
        return list(pygame.display.get_desktop_sizes())
    finally:
        pygame.display.quit()


LOCKED_IN_INSTALLATIONS = {"hud", "snapshot"}


class Window(Output):
    name = "window"

    def __init__(self, cfg: DisplayConfig, title: str = "live-dream", installation: bool = False):
        # installation: no HUD (nothing static burns in), no snapshot key (nothing of a visitor is kept)
        self.cfg, self.title, self.installation = cfg, title, installation
        self.error: str | None = None
        self.pg = self.screen = None

    def open(self) -> None:
        import pygame
        self.pg = pygame
        cfg = self.cfg
        try:
            pygame.display.init()
            pygame.font.init()
        except pygame.error as exc:
            raise UserError(f"cannot open a window ({exc}); run with --headless") from None
        desktops = pygame.display.get_desktop_sizes()
        if cfg.display >= len(desktops):
            raise UserError(f"display {cfg.display} does not exist ({len(desktops)} found: "
                            f"{', '.join(f'{i}: {w}x{h}' for i, (w, h) in enumerate(desktops))}); "
                            f"set display.display")
        self.cfg, self.desktop = cfg, desktops[cfg.display]
        self.fullscreen = cfg.fullscreen
        self.hud = cfg.hud and not self.installation
        self.font = pygame.font.Font(None, 26)
        pygame.display.set_caption(self.title)
        self._open()

    def _open(self):
        pg = self.pg
        size = self.desktop if self.fullscreen else (self.cfg.window_width, self.cfg.window_height)
        flags = pg.FULLSCREEN | pg.SCALED if self.fullscreen else 0
        try:  # vsync needs a renderer-backed window; fall back to plain flips where there is none
            with warnings.catch_warnings():  # "no fast renderer available": the software path is fine
                warnings.simplefilter("ignore")
                self.screen = pg.display.set_mode(size, flags | pg.SCALED, display=self.cfg.display,
                                                  vsync=int(self.cfg.vsync))
        except pg.error:
            self.screen = pg.display.set_mode(size, flags, display=self.cfg.display)
        pg.mouse.set_visible(False)

    @property
    def size(self) -> tuple[int, int]:
        return self.screen.get_size()

    def send(self, rgb: np.ndarray, status: Status | None = None) -> None:
        """Show a frame (upscaled here unless it already has the window's size)."""
        pg = self.pg
        frame = fit_cover(rgb, self.size)
        self.screen.blit(pg.image.frombuffer(frame.tobytes(), self.size, "RGB"), (0, 0))
        if self.hud:
            self._draw_hud((status.lines() if status else []) + HELP)
        pg.display.flip()

    def _draw_hud(self, lines: list[str]) -> None:
        pg = self.pg
        rendered = [self.font.render(line, True, (255, 255, 255)) for line in lines]
        w = max(r.get_width() for r in rendered) + 16
        h = sum(r.get_height() + 2 for r in rendered) + 12
        panel = pg.Surface((w, h), pg.SRCALPHA)
        panel.fill((0, 0, 0, 160))
        self.screen.blit(panel, (8, 8))
        y = 14
        for r in rendered:
            self.screen.blit(r, (16, y))
            y += r.get_height() + 2

    def poll(self) -> list[Action]:
        actions = []
        for event in self.pg.event.get():
            if event.type == self.pg.QUIT:
                actions.append(Action("quit", source="window"))
            elif event.type == self.pg.KEYDOWN:
                name = KEYS.get(self.pg.key.name(event.key))
                if name == "fullscreen":
                    self.fullscreen = not self.fullscreen
                    self._open()
                elif name in LOCKED_IN_INSTALLATIONS and self.installation:
                    continue
                elif name == "hud":
                    self.hud = not self.hud
                elif name:
                    actions.append(Action(name, source="key"))
        return actions

    def close(self) -> None:
        if self.pg is not None:
            self.pg.display.quit()
            self.pg = None  # closed exactly once, however often the show's shutdown asks
        return None
