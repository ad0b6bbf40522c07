"""The visualizer window: the image area on the left, the panels on the right.

Panels (viz/*_widget.py) read the last result and write arguments; only the renderer touches the network.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np

# PyTorch's compiler stack, and the LLVM inside triton, must load before the OpenGL driver loads its own: with
# Mesa's llvmpipe (software OpenGL, as under Xvfb), importing triton after the driver crashes the process, and
# torch.optim imports it on first use (the inversion's optimiser).
import torch._dynamo  # noqa: F401
from imgui_bundle import imgui

from gui_utils.image_view import ImageView
from gui_utils.imgui_window import ImguiWindow
from gui_utils.texture import Texture
from stylegan.errors import StyleGANError
from viz.async_renderer import AsyncRenderer
from viz.renderer import DEFAULT_ARGS
from viz.settings import Settings

PANE_WIDTH = 420
BUSY_FPS_LIMIT = 30
MODEL_SUFFIXES = (".pkl", ".pickle", ".safetensors")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
ERROR_BACKGROUND = (0.4, 0.05, 0.05, 0.9)  # the strip an error is written on, over the image area


class Visualizer(ImguiWindow):
    def __init__(self, models: list[str] | None = None, threaded: bool = True, settings: Settings | None = None,
                 width: int = 1600, height: int = 900):  # fmt: skip
        from viz import (
            capture_widget,
            class_widget,
            equivariance_widget,
            interpolation_widget,
            inversion_widget,
            latent_widget,
            layer_widget,
            mixing_widget,
            model_widget,
            performance_widget,
            truncation_widget,
        )

        self.settings = settings if settings is not None else Settings.load()
        width, height = self.settings.get("window_size", [width, height])
        super().__init__("StyleGAN-XL studio", int(width), int(height))
        self.args = copy.deepcopy(DEFAULT_ARGS)
        self.result: dict = {}
        self.renderer = AsyncRenderer(threaded=threaded)
        self.texture = Texture()
        self.view = ImageView()
        self.errors_seen: set[str] = set()
        self.render_history: list[float] = []
        self.frame_history: list[float] = []
        self.image_area = (0.0, 0.0, 1.0, 1.0)  # x, y, width, height in window coordinates
        self._requested_args: dict | None = None
        self._request_time = time.perf_counter()
        self.latency_seconds = 0.0  # from an argument change to its image on screen
        self.model = model_widget.ModelWidget(self, models or [])
        self.widgets = [
            ("Model", self.model),
            ("Class", class_widget.ClassWidget(self)),
            ("Seed / latent", latent_widget.LatentWidget(self)),
            ("Truncation", truncation_widget.TruncationWidget(self)),
            ("Style mixing", mixing_widget.MixingWidget(self)),
            ("Interpolation", interpolation_widget.InterpolationWidget(self)),
            ("Inversion", inversion_widget.InversionWidget(self)),
            ("Layers", layer_widget.LayerWidget(self)),
            ("Equivariance", equivariance_widget.EquivarianceWidget(self)),
            ("Capture", capture_widget.CaptureWidget(self)),
            ("Performance", performance_widget.PerformanceWidget(self)),
        ]
        self.open_panels: dict[str, bool] = self.settings.get(
            "open_panels", {"Model": True, "Seed / latent": True}
        )
        self.undo_stack: list[dict] = []
        self.redo_stack: list[dict] = []
        self._last_snapshot = copy.deepcopy(self.args)

    # -- model facts the panels read --------------------------------------------------------------------------

    @property
    def model_info(self) -> dict:
        return self.result.get("model") or {}

    # -- one frame ----------------------------------------------------------------------------------------------

    def frame(self, read_back: bool = False) -> np.ndarray | None:
        self.begin_frame()
        for path in self.take_drops():
            self.handle_drop(path)
        self._take_result()
        width, height = self.size
        imgui.set_next_window_pos((width - PANE_WIDTH, 0))
        imgui.set_next_window_size((PANE_WIDTH, height))
        flags = (
            imgui.WindowFlags_.no_move
            | imgui.WindowFlags_.no_resize
            | imgui.WindowFlags_.no_collapse
            | imgui.WindowFlags_.no_title_bar
        )
        imgui.begin("panels", flags=flags)
        for title, widget in self.widgets:
            if getattr(widget, "hidden", False):
                continue
            expanded = imgui.collapsing_header(
                title, imgui.TreeNodeFlags_.default_open if self.open_panels.get(title) else 0
            )
            self.open_panels[title] = expanded
            widget(expanded)
        imgui.end()
        self._draw_image_area(width - PANE_WIDTH, height)
        self._handle_keys()
        self._record_history()
        self._request_render()
        capture = self.widget("Capture")
        screenshot = capture.screenshot_pending
        # While the worker renders, the UI yields the CPU it would spend on extra frames (software OpenGL and
        # PyTorch share the cores); it stays at BUSY_FPS_LIMIT, enough to feel live.
        busy_limit = min(self.fps_limit or BUSY_FPS_LIMIT, BUSY_FPS_LIMIT) if self.renderer.busy else None
        pixels = self.end_frame(read_back or screenshot, busy_limit, self.renderer.result_ready)
        if screenshot:
            capture.screenshot_pending = False
            capture.save_screenshot(pixels)
        self.frame_history = (self.frame_history + [self.frame_seconds])[-240:]
        return pixels

    def run(self) -> None:
        try:
            while not self.should_close:
                self.frame()
        finally:
            self.close()

    def close(self) -> None:
        self.settings["window_size"] = list(self.size) if self.handle else self.settings.get("window_size")
        self.settings["open_panels"] = self.open_panels
        self.settings.save()
        self.widget("Capture").stop_recording()
        self.renderer.close()
        super().close()

    def handle_drop(self, path: str) -> None:
        """A file dropped on the window: a model opens, an image starts an inversion, anything else is an error."""
        suffix = Path(path).suffix.lower()
        if suffix in MODEL_SUFFIXES:
            self.model.open(path)
        elif suffix in IMAGE_SUFFIXES:
            self.widget("Inversion").start(path)
        else:
            self.report_error(f"{path}: drop a model (.pkl, .safetensors) or an image to invert")

    # -- undo / redo and sessions ------------------------------------------------------------------------------

    def _record_history(self) -> None:
        """An edit becomes one undo step once it settles (no mouse button held, no animation running)."""
        if (
            imgui.is_mouse_down(imgui.MouseButton_.left)
            or _same(self.args, self._last_snapshot)
            or self.args.get("inversion")
        ):
            return
        self.undo_stack = (self.undo_stack + [self._last_snapshot])[-200:]
        self.redo_stack = []
        self._last_snapshot = copy.deepcopy(self.args)

    def undo(self) -> None:
        if self.undo_stack:
            self.redo_stack.append(copy.deepcopy(self.args))
            self.args = self.undo_stack.pop()
            self._last_snapshot = copy.deepcopy(self.args)

    def redo(self) -> None:
        if self.redo_stack:
            self.undo_stack.append(copy.deepcopy(self.args))
            self.args = self.redo_stack.pop()
            self._last_snapshot = copy.deepcopy(self.args)

    def _handle_keys(self) -> None:
        io = imgui.get_io()
        if io.want_text_input or not io.key_ctrl:
            return
        if imgui.is_key_pressed(imgui.Key.z):
            self.redo() if io.key_shift else self.undo()
        elif imgui.is_key_pressed(imgui.Key.y):
            self.redo()

    def save_session(self, path: str) -> Path | None:
        from viz.session import save_session

        interpolation = self.widget("Interpolation")
        try:
            return save_session(
                path, self.args, {"open_panels": self.open_panels, "keyframes": interpolation.keyframes}
            )
        except StyleGANError as error:
            self.report_error(str(error))
            return None

    def load_session(self, path: str) -> bool:
        from viz.session import load_session

        try:
            args, panels = load_session(path)
        except StyleGANError as error:
            self.report_error(str(error))
            return False
        self.args = args
        self.open_panels.update(panels.get("open_panels", {}))
        self.widget("Interpolation").keyframes = list(panels.get("keyframes", []))
        self.model.path_text = str(args["model"])
        return True

    def set_async(self, threaded: bool) -> None:
        """Switch between the worker thread and rendering inside the frame, keeping the caches."""
        renderer = self.renderer.renderer
        self.renderer.close()
        self.renderer = AsyncRenderer(renderer, threaded=threaded)
        self._requested_args = None

    def widget(self, title: str):
        return dict(self.widgets)[title]

    def report_error(self, message: str) -> None:
        self.result = {**self.result, "error": message}
        if message not in self.errors_seen:
            self.errors_seen.add(message)
            print(f"error: {message}")

    # -- rendering ----------------------------------------------------------------------------------------------

    def _request_render(self) -> None:
        running_inversion = self.args.get("inversion") is not None
        changed = not _same(self.args, self._requested_args)
        if changed or running_inversion:
            if changed:
                self._request_time = time.perf_counter()
            self._requested_args = copy.deepcopy(self.args)
            self.renderer.set_args(self._requested_args)

    def _take_result(self) -> None:
        result = self.renderer.result()
        if result is None:
            return
        self.result = result
        self.render_history = (self.render_history + [result.get("render_seconds", 0.0)])[-240:]
        if result.get("image") is not None:
            self.texture.upload(result["image"])
            self.widget("Capture").record(result["image"])
            self.latency_seconds = time.perf_counter() - self._request_time
        if result.get("error") and result["error"] not in self.errors_seen:
            self.errors_seen.add(result["error"])
            print(f"error: {result['error']}")

    def wait_for_result(self, timeout: float = 30.0) -> dict:
        """Render frames until the renderer has answered the current arguments (tests, screenshots)."""
        deadline = time.perf_counter() + timeout
        self.frame()
        while (self.renderer.busy or self.result.get("image") is None and not self.result.get("error")) and (
            time.perf_counter() < deadline
        ):
            self.frame()
        self.frame()
        return self.result

    def _draw_image_area(self, width: float, height: float) -> None:
        self.image_area = (0.0, 0.0, float(width), float(height))
        draw = imgui.get_background_draw_list()
        if self.texture.shape is not None:
            image_height, image_width = self.texture.shape
            self.view.layout(width, height, image_width, image_height)
            self.texture.set_nearest(float(self.view.zoom).is_integer() and self.view.zoom >= 1)
            x0, y0, x1, y1 = self.view.rect(image_width, image_height)
            draw.add_image(imgui.ImTextureRef(self.texture.id), (x0, y0), (x1, y1))
        self._handle_image_mouse(width, height)
        error = self.result.get("error")
        if error:
            draw.add_rect_filled(
                (10, height - 60), (width - 10, height - 10), imgui.get_color_u32(ERROR_BACKGROUND)
            )
            draw.add_text((20, height - 45), imgui.get_color_u32((1, 1, 1, 1)), f"Error: {error}"[:200])
        notice = self.model.notice
        if notice:
            draw.add_text((12, 10), imgui.get_color_u32((1, 0.85, 0.4, 1)), notice)

    def _handle_image_mouse(self, width: float, height: float) -> None:
        io = imgui.get_io()
        x, y = io.mouse_pos.x, io.mouse_pos.y
        inside = 0 <= x < width and 0 <= y < height and not io.want_capture_mouse
        if not inside:
            return
        if io.mouse_wheel:
            self.view.zoom_at(x, y, io.mouse_wheel)
        if imgui.is_mouse_dragging(imgui.MouseButton_.right):
            self.view.pan(io.mouse_delta.x, io.mouse_delta.y)
        if imgui.is_mouse_double_clicked(imgui.MouseButton_.left):
            self.view.reset()
        elif imgui.is_mouse_dragging(imgui.MouseButton_.left):
            self.widget("Seed / latent").drag(io.mouse_delta.x, io.mouse_delta.y)


def _same(a, b) -> bool:
    """Equality of argument values that may hold numpy arrays."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b
