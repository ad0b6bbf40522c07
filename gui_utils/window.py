"""A GLFW window with an OpenGL context: frame pacing, vsync, file drops, and reading the framebuffer back."""

from __future__ import annotations

import threading
import time
import warnings

import glfw
import numpy as np
import OpenGL.GL as gl


class WindowError(RuntimeError):
    """The window system could not give us a window (no display, no OpenGL)."""


class Window:
    def __init__(self, title: str = "window", width: int = 1600, height: int = 900, vsync: bool = True):
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore"
            )  # GLFW's own warning says the same as the error below, less clearly
            started = glfw.init()
        if not started:
            raise WindowError("GLFW could not start: is there a display (DISPLAY / WAYLAND_DISPLAY)?")
        # Dear ImGui's OpenGL backend draws with GLSL 3.30 shaders: a 3.3 core context (forward-compatible, as
        # macOS requires for anything past 2.1).
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        self.handle = glfw.create_window(width, height, title, None, None)
        if not self.handle:
            glfw.terminate()
            raise WindowError("GLFW could not open an OpenGL 3.3 window")
        glfw.make_context_current(self.handle)
        self._drops: list[str] = []
        glfw.set_drop_callback(self.handle, lambda _window, paths: self.drop(paths))
        self.vsync = vsync
        glfw.swap_interval(1 if vsync else 0)
        self.fps_limit: int | None = 60
        self.frame_seconds = 0.0  # duration of the last whole frame, sleep included
        self._frame_start = time.perf_counter()

    @property
    def size(self) -> tuple[int, int]:
        """Window size in screen coordinates (what imgui works in)."""
        return glfw.get_window_size(self.handle)

    @property
    def framebuffer_size(self) -> tuple[int, int]:
        return glfw.get_framebuffer_size(self.handle)

    def set_size(self, width: int, height: int) -> None:
        glfw.set_window_size(self.handle, width, height)

    def set_vsync(self, enabled: bool) -> None:
        self.vsync = enabled
        glfw.swap_interval(1 if enabled else 0)

    @property
    def should_close(self) -> bool:
        return bool(glfw.window_should_close(self.handle))

    def request_close(self) -> None:
        glfw.set_window_should_close(self.handle, True)

    def drop(self, paths: list[str]) -> None:
        """Files dropped onto the window (GLFW calls this; tests can too); handled at the next frame."""
        self._drops.extend(str(path) for path in paths)

    def take_drops(self) -> list[str]:
        """Paths dropped onto the window since the last call."""
        drops, self._drops = self._drops, []
        return drops

    def poll(self) -> None:
        glfw.poll_events()

    def swap(self, fps_limit: int | None = None, wake: threading.Event | None = None) -> None:
        """Show the frame, then wait to keep to the FPS limit (`fps_limit` overrides it for this frame). A set
        `wake` event ends the wait early, so news from another thread shows in the very next frame."""
        glfw.swap_buffers(self.handle)
        limit = fps_limit or self.fps_limit
        if limit:
            remaining = self._frame_start + 1 / limit - time.perf_counter()
            if remaining > 0:
                if wake is None:
                    time.sleep(remaining)
                else:
                    wake.wait(remaining)
        now = time.perf_counter()
        self.frame_seconds = now - self._frame_start
        self._frame_start = now

    def read_pixels(self) -> np.ndarray:
        """The back buffer as uint8 [H, W, 3], top row first (call before `swap`)."""
        width, height = self.framebuffer_size
        gl.glPixelStorei(gl.GL_PACK_ALIGNMENT, 1)
        data = gl.glReadPixels(0, 0, width, height, gl.GL_RGB, gl.GL_UNSIGNED_BYTE)
        return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)[::-1].copy()

    def close(self) -> None:
        if self.handle:
            glfw.destroy_window(self.handle)
            self.handle = None
        glfw.terminate()
