"""The one error type users see: a single line naming the problem and the fix."""
from __future__ import annotations

import importlib
from types import ModuleType


class UserError(Exception):
    """Bad input or environment. The CLI prints `live-dream: <message>` and exits 2, no traceback."""


def require_extra(module: str, install: str) -> ModuleType:
    """An optional library, imported; missing, the UserError `install` (the line naming what to install)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(install) from None
