"""The one error type users see: a single line naming the problem and the fix."""


class UserError(Exception):
    """Bad input or environment. The CLI prints `live-dream: <message>` and exits 2, no traceback."""
