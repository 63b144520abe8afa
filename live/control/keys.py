"""The keys of the window: key name (as pygame names it) -> action name."""

KEYS = {
    "escape": "quit", "q": "quit",
    "f": "fullscreen", "h": "hud", "tab": "hud",
    "right": "next", "n": "next", "left": "prev", "p": "prev",
    "up": "stronger", "down": "weaker",
    "]": "more_steps", "=": "more_steps", "[": "fewer_steps", "-": "fewer_steps",
    "space": "freeze", "s": "snapshot",
}
# ASCII only: pygame's built-in font has no arrow glyphs.
HELP = ["Esc/Q quit   F fullscreen   H HUD   Space freeze   S snapshot",
        "Left/Right preset   Up/Down strength   [ ] steps"]
