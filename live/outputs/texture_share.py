"""Spout (Windows) and Syphon (macOS): the shown picture shared on the GPU with Resolume, TouchDesigner,
MadMapper or OBS on the same machine. Extras `spout` (SpoutGL) and `syphon` (syphon-python, Metal).

Written against each library's documented use and not run on this project's Linux machines: each
refuses with one line on a system that does not have it, and its tests skip there with the reason.
"""
from __future__ import annotations

import logging
import sys

import cv2
import numpy as np

from live.outputs.contract import Output
from live.errors import UserError, require_extra
from live.core.imageio import fit_cover

log = logging.getLogger("live-dream")


def _rgba(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.cvtColor(fit_cover(rgb, size), cv2.COLOR_RGB2RGBA)


class SpoutOutput(Output):
    name = "spout"

    def __init__(self, sender_name: str, size: tuple[int, int]):
        if sys.platform != "win32":
            raise UserError("Spout runs on Windows only; here use NDI (ndi.output) or the virtual camera")
        require_extra("SpoutGL", "Spout needs the spout extra: pip install -e '.[spout]' (SpoutGL)")
        self.sender_name, self.size, self.error, self.sender = sender_name, size, None, None

    def open(self) -> None:
        import SpoutGL
        self.sender = SpoutGL.SpoutSender()
        self.sender.setSenderName(self.sender_name)
        log.info("Spout: sending '%s' at %dx%d", self.sender_name, *self.size)

    def send(self, rgb: np.ndarray, status=None) -> None:
        from SpoutGL.enums import GL_RGBA
        if not self.sender.sendImage(_rgba(rgb, self.size), *self.size, GL_RGBA, False, 0):
            self.error = "Spout send failed"

    def close(self):
        if self.sender is not None:
            self.sender.releaseSender()
            self.sender = None
        return None


class SyphonOutput(Output):
    name = "syphon"

    def __init__(self, server_name: str, size: tuple[int, int]):
        if sys.platform != "darwin":
            raise UserError("Syphon runs on macOS only; here use NDI (ndi.output) or the virtual camera")
        require_extra("syphon", "Syphon needs the syphon extra: pip install -e '.[syphon]' (syphon-python)")
        self.server_name, self.size, self.error, self.server = server_name, size, None, None

    def open(self) -> None:
        import syphon
        from syphon.utils.raw import create_mtl_texture
        self.server = syphon.SyphonMetalServer(self.server_name)
        self.texture = create_mtl_texture(self.server.device, *self.size)
        log.info("Syphon: serving '%s' at %dx%d", self.server_name, *self.size)

    def send(self, rgb: np.ndarray, status=None) -> None:
        from syphon.utils.numpy import copy_image_to_mtl_texture
        copy_image_to_mtl_texture(_rgba(rgb, self.size), self.texture)
        self.server.publish_frame_texture(self.texture)

    def close(self):
        if self.server is not None:
            self.server.stop()
            self.server = None
        return None
