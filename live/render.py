"""The pygame renderer: the dream upscaled to the screen, an optional HUD, and the keys.

Runs on the main thread (SDL wants that). `poll()` turns key presses into action names that the
pipeline applies; the renderer itself changes nothing but the window.
"""
from __future__ import annotations

import os
import warnings

import numpy as np

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # no banner on our terminal

from .config import DisplayConfig
from .errors import UserError
from .imageio import fit_cover

KEYS = {  # key name -> action
    "escape": "quit", "q": "quit",
    "f": "fullscreen", "h": "hud", "tab": "hud",
    "right": "next", "n": "next", "left": "previous", "p": "previous",
    "up": "stronger", "down": "weaker",
    "]": "more_steps", "=": "more_steps", "[": "fewer_steps", "-": "fewer_steps",
    "space": "freeze", "s": "snapshot",
}
# ASCII only: pygame's built-in font has no arrow glyphs.
HELP = ["Esc/Q quit   F fullscreen   H HUD   Space freeze   S snapshot",
        "Left/Right preset   Up/Down strength   [ ] steps"]


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


class Renderer:
    def __init__(self, cfg: DisplayConfig, title: str = "live-dream"):
        import pygame
        self.pg = pygame
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
        self.hud = cfg.hud
        self.font = pygame.font.Font(None, 26)
        pygame.display.set_caption(title)
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

    def show(self, rgb: np.ndarray, hud_lines: list[str]) -> None:
        """Show a frame (upscaled here unless it already has the window's size)."""
        pg = self.pg
        frame = rgb if rgb.shape[1::-1] == self.size else fit_cover(rgb, self.size)
        self.screen.blit(pg.image.frombuffer(frame.tobytes(), self.size, "RGB"), (0, 0))
        if self.hud:
            self._draw_hud(hud_lines + HELP)
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

    def poll(self) -> list[str]:
        actions = []
        for event in self.pg.event.get():
            if event.type == self.pg.QUIT:
                actions.append("quit")
            elif event.type == self.pg.KEYDOWN:
                action = KEYS.get(self.pg.key.name(event.key))
                if action == "fullscreen":
                    self.fullscreen = not self.fullscreen
                    self._open()
                elif action == "hud":
                    self.hud = not self.hud
                elif action:
                    actions.append(action)
        return actions

    def close(self) -> None:
        self.pg.display.quit()
