"""A Window with Dear ImGui (imgui-bundle) and ImPlot on top, using the DejaVu Sans font shipped in gui_utils/fonts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenGL.GL as gl
from imgui_bundle import imgui, implot
from imgui_bundle.python_backends.glfw_backend import GlfwRenderer

from gui_utils.window import Window

FONT_PATH = Path(__file__).resolve().parent / "fonts" / "DejaVuSans.ttf"


class ImguiWindow(Window):
    """Call `begin_frame()`, build the imgui interface, then `end_frame()`."""

    def __init__(self, title: str = "window", width: int = 1600, height: int = 900, vsync: bool = True,
                 font_size: int = 15, background=(0.09, 0.09, 0.1)):  # fmt: skip
        super().__init__(title, width, height, vsync)
        self.imgui_context = imgui.create_context()
        self.implot_context = implot.create_context()
        io = imgui.get_io()
        io.set_ini_filename(None)  # panel layout is ours to keep, not imgui.ini's
        # The first font added is the default one; the atlas rasterises it at whatever size a frame asks for.
        self.font = io.fonts.add_font_from_file_ttf(str(FONT_PATH), font_size)
        self.imgui_renderer = GlfwRenderer(self.handle)
        self.font_size = font_size
        self._in_frame = False
        self.background = background
        style = imgui.get_style()
        style.font_size_base = font_size
        style.window_rounding = 0
        style.frame_rounding = 3

    def begin_frame(self) -> None:
        self.poll()
        self.imgui_renderer.process_inputs()
        imgui.new_frame()
        self._in_frame = True

    def end_frame(
        self, read_back: bool = False, fps_limit: int | None = None, wake=None
    ) -> np.ndarray | None:
        """Draw the interface and show it; with read_back, also return what was drawn (uint8 [H, W, 3]).
        `fps_limit` and `wake` go to `Window.swap`."""
        imgui.render()
        self._in_frame = False
        width, height = self.framebuffer_size
        gl.glViewport(0, 0, width, height)
        gl.glClearColor(*self.background, 1.0)
        gl.glClear(gl.GL_COLOR_BUFFER_BIT)
        self.imgui_renderer.render(imgui.get_draw_data())
        pixels = self.read_pixels() if read_back else None
        self.swap(fps_limit, wake)
        return pixels

    def close(self) -> None:
        if self.handle:
            if self._in_frame:
                # An exception left a frame open, perhaps inside a window: imgui's error recovery ends what is
                # still begun, so the frame can close and the context go.
                imgui.get_io().config_error_recovery_enable_assert = False
                imgui.end_frame()
                self._in_frame = False
            self.imgui_renderer.shutdown()
            implot.destroy_context(self.implot_context)
            imgui.destroy_context(self.imgui_context)
        super().close()
