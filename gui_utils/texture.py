"""An OpenGL texture holding one RGB image, for drawing through imgui."""

from __future__ import annotations

import numpy as np
import OpenGL.GL as gl


class Texture:
    def __init__(self):
        self.id = int(gl.glGenTextures(1))
        self.shape: tuple[int, int] | None = None  # (height, width)
        self.nearest = True

    def upload(self, image: np.ndarray) -> None:
        """uint8 [H, W, 3] (or [H, W, 1])."""
        if image.ndim == 3 and image.shape[2] == 1:
            image = np.repeat(image, 3, axis=2)
        image = np.ascontiguousarray(image[:, :, :3], dtype=np.uint8)
        height, width = image.shape[:2]
        gl.glBindTexture(gl.GL_TEXTURE_2D, self.id)
        gl.glPixelStorei(gl.GL_UNPACK_ALIGNMENT, 1)
        if self.shape != (height, width):
            gl.glTexImage2D(
                gl.GL_TEXTURE_2D, 0, gl.GL_RGB8, width, height, 0, gl.GL_RGB, gl.GL_UNSIGNED_BYTE, image
            )
            gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_WRAP_S, gl.GL_CLAMP_TO_EDGE)
            gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_WRAP_T, gl.GL_CLAMP_TO_EDGE)
            self.shape = (height, width)
        else:
            gl.glTexSubImage2D(
                gl.GL_TEXTURE_2D, 0, 0, 0, width, height, gl.GL_RGB, gl.GL_UNSIGNED_BYTE, image
            )
        self._apply_filter()

    def set_nearest(self, nearest: bool) -> None:
        """Nearest filtering shows pixels exactly (integer zoom); linear smooths other zooms."""
        if nearest != self.nearest:
            self.nearest = nearest
            self._apply_filter()

    def _apply_filter(self) -> None:
        mode = gl.GL_NEAREST if self.nearest else gl.GL_LINEAR
        gl.glBindTexture(gl.GL_TEXTURE_2D, self.id)
        gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_MIN_FILTER, gl.GL_LINEAR)
        gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_MAG_FILTER, mode)

    def delete(self) -> None:
        gl.glDeleteTextures([self.id])
