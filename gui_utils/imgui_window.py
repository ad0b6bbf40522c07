"""A Window with Dear ImGui (pyimgui 2.x) on top, using the DejaVu Sans font shipped in gui_utils/fonts."""

from __future__ import annotations

from pathlib import Path

import imgui
import numpy as np
import OpenGL.GL as gl
from imgui.integrations.glfw import GlfwRenderer

from gui_utils.window import Window

FONT_PATH = Path(__file__).resolve().parent / "fonts" / "DejaVuSans.ttf"


class ImguiWindow(Window):
    """Call `begin_frame()`, build the imgui interface, then `end_frame()`."""

    def __init__(self, title: str = "window", width: int = 1600, height: int = 900, vsync: bool = True,
                 font_size: int = 15, background=(0.09, 0.09, 0.1)):  # fmt: skip
        super().__init__(title, width, height, vsync)
        self.imgui_context = imgui.create_context()
        io = imgui.get_io()
        io.ini_file_name = None  # panel layout is ours to keep, not imgui.ini's
        self.font = io.fonts.add_font_from_file_ttf(str(FONT_PATH), font_size)
        self.imgui_renderer = GlfwRenderer(self.handle)  # builds the font texture
        self.font_size = font_size
        self._in_frame = False
        self.background = background
        style = imgui.get_style()
        style.window_rounding = 0
        style.frame_rounding = 3

    def begin_frame(self) -> None:
        self.poll()
        self.imgui_renderer.process_inputs()
        imgui.new_frame()
        self._in_frame = True
        imgui.push_font(self.font)

    def end_frame(
        self, read_back: bool = False, fps_limit: int | None = None, wake=None
    ) -> np.ndarray | None:
        """Draw the interface and show it; with read_back, also return what was drawn (uint8 [H, W, 3]).
        `fps_limit` and `wake` go to `Window.swap`."""
        imgui.pop_font()
        self._in_frame = False
        width, height = self.framebuffer_size
        gl.glViewport(0, 0, width, height)
        gl.glClearColor(*self.background, 1.0)
        gl.glClear(gl.GL_COLOR_BUFFER_BIT)
        imgui.render()
        self.imgui_renderer.render(imgui.get_draw_data())
        pixels = self.read_pixels() if read_back else None
        self.swap(fps_limit, wake)
        return pixels

    def close(self) -> None:
        if self.handle:
            if self._in_frame:  # an exception left a frame open: close it so the context can go
                imgui.pop_font()
                imgui.end_frame()
                self._in_frame = False
            self.imgui_renderer.shutdown()
            imgui.destroy_context(self.imgui_context)
        super().close()
