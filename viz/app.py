"""The visualizer window: the image area on the left, the panels on the right.

Panels (viz/*_widget.py) read the last result and write arguments; only the renderer touches the network.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from pathlib import Path

import glfw
import numpy as np

# PyTorch's compiler stack, and the LLVM inside triton, must load before the OpenGL driver loads its own: with
# Mesa's llvmpipe (software OpenGL, as under Xvfb), importing triton after the driver crashes the process, and
# torch.optim imports it on first use (the inversion's optimiser).
import torch._dynamo  # noqa: F401
from imgui_bundle import imgui

from gui_utils.image_view import ImageView
from gui_utils.imgui_window import ImguiWindow
from gui_utils.layout import error_text
from gui_utils.texture import Texture
from stylegan.errors import StyleGANError
from stylegan.io.loading import MODEL_SUFFIXES
from stylegan.view import InterpolationEnd, ViewArgs, load_session, save_session
from viz.async_renderer import AsyncRenderer
from viz.renderer import ModelInfo, RenderResult
from viz.settings import Settings

log = logging.getLogger(__name__)

PANE_WIDTH = 420
BUSY_FPS_LIMIT = 30
UNDO_STEPS = 200
IDLE_WAKE_SECONDS = 0.5  # when nothing changes the window sleeps in GLFW until input, a result, or this long
SETTLE_FRAMES = 3  # frames drawn after each wake-up: imgui needs a frame or two to show hover and release
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
LATENT_SUFFIXES = (".npz",)
ERRORS_REMEMBERED = 256  # distinct error messages kept to print each once
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
        imgui.get_io().config_error_recovery_enable_assert = False  # a failing panel is recovered, not fatal
        self.args = ViewArgs()
        self.result = RenderResult()
        self.renderer = AsyncRenderer(threaded=threaded, on_result=self._wake)
        self.texture = Texture()
        self.image_visible = False  # False while the texture holds a picture that is no longer the view's
        self.view = ImageView()
        self.errors_seen: dict[str, None] = {}  # the newest ERRORS_REMEMBERED messages printed, oldest first
        self.panel_errors: dict[str, str] = {}  # panel title -> the exception its last draw raised
        self.item_rects: dict[str, tuple[float, float, float, float]] = {}  # named controls, this frame
        self.render_history: list[float] = []
        self.frame_history: list[float] = []
        self.frames_drawn = 0
        self.image_area = (0.0, 0.0, 1.0, 1.0)  # x, y, width, height in window coordinates
        self._requested_args: ViewArgs | None = None
        self._request_time = time.perf_counter()
        self._quiet_frames = 0  # frames in a row with nothing moving
        self.latency_seconds = 0.0  # from an argument change to its image on screen
        self.model_widget = model_widget.ModelWidget(self, models or [])
        self.class_widget = class_widget.ClassWidget(self)
        self.latent_widget = latent_widget.LatentWidget(self)
        self.truncation_widget = truncation_widget.TruncationWidget(self)
        self.mixing_widget = mixing_widget.MixingWidget(self)
        self.interpolation_widget = interpolation_widget.InterpolationWidget(self)
        self.inversion_widget = inversion_widget.InversionWidget(self)
        self.layer_widget = layer_widget.LayerWidget(self)
        self.equivariance_widget = equivariance_widget.EquivarianceWidget(self)
        self.capture_widget = capture_widget.CaptureWidget(self)
        self.performance_widget = performance_widget.PerformanceWidget(self)
        self.panels = [  # the order on screen, with each panel's title
            ("Model", self.model_widget),
            ("Class", self.class_widget),
            ("Seed / latent", self.latent_widget),
            ("Truncation", self.truncation_widget),
            ("Style mixing", self.mixing_widget),
            ("Interpolation", self.interpolation_widget),
            ("Inversion", self.inversion_widget),
            ("Layers", self.layer_widget),
            ("Equivariance", self.equivariance_widget),
            ("Capture", self.capture_widget),
            ("Performance", self.performance_widget),
        ]
        self.open_panels: dict[str, bool] = self.settings.get(
            "open_panels", {"Model": True, "Seed / latent": True}
        )
        self.undo_stack: list[ViewArgs] = []
        self.redo_stack: list[ViewArgs] = []
        self._last_snapshot = copy.deepcopy(self.args)

    # -- model facts the panels read --------------------------------------------------------------------------

    @property
    def model_info(self) -> ModelInfo | None:
        return self.result.model

    # -- one frame ----------------------------------------------------------------------------------------------

    def frame(self, read_back: bool = False) -> np.ndarray | None:
        self.begin_frame()
        self.item_rects = {}
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
        for title, widget in self.panels:
            self._draw_panel(title, widget)
        imgui.end()
        self._draw_image_area(width - PANE_WIDTH, height)
        self._handle_keys()
        self._record_history()
        self._request_render()
        capture = self.capture_widget
        screenshot = capture.screenshot_pending
        # While the worker renders, the UI yields the CPU it would spend on extra frames (software OpenGL and
        # PyTorch share the cores); it stays at BUSY_FPS_LIMIT, enough to feel live.
        busy_limit = min(self.fps_limit or BUSY_FPS_LIMIT, BUSY_FPS_LIMIT) if self.renderer.busy else None
        pixels = self.end_frame(read_back or screenshot, busy_limit, self.renderer.result_ready)
        if screenshot:
            capture.screenshot_pending = False
            capture.save_screenshot(pixels)
        self.frame_history = (self.frame_history + [self.frame_seconds])[-240:]
        self.frames_drawn += 1
        self._quiet_frames = 0 if self.animating else self._quiet_frames + 1
        return pixels

    def _draw_panel(self, title: str, widget) -> None:
        """One panel under its header. Whatever the panel raises stays in the panel: the error is shown there,
        imgui's stacks are put back as they were before it, and the window goes on."""
        if getattr(widget, "hidden", False):
            return
        imgui.set_next_item_open(bool(self.open_panels.get(title)), imgui.Cond_.always)
        expanded = imgui.collapsing_header(title)
        self.open_panels[title] = expanded
        state = imgui.internal.ErrorRecoveryState()
        imgui.internal.error_recovery_store_state(state)
        try:
            widget(expanded)
        except Exception as error:
            imgui.internal.error_recovery_try_to_recover_state(state)
            message = f"{type(error).__name__}: {error}"
            if self.panel_errors.get(title) != message:
                log.exception("the %s panel failed", title)
            self.panel_errors[title] = message
        else:
            self.panel_errors.pop(title, None)
        if expanded and title in self.panel_errors:
            error_text(f"This panel failed: {self.panel_errors[title]}")

    def note_item(self, name: str) -> None:
        """Remember where the last control was drawn (screen rectangle), by a name of the panel's choosing:
        tests click there, as a person would."""
        (x0, y0), (x1, y1) = imgui.get_item_rect_min(), imgui.get_item_rect_max()
        self.item_rects[name] = (x0, y0, x1, y1)

    @property
    def animating(self) -> bool:
        """Whether the next frame may differ without any input: an animation, a render or job in flight."""
        return bool(
            self.args.inversion is not None
            or self.renderer.busy
            or self.renderer.result_ready.is_set()
            or any(getattr(widget, "animating", False) for _, widget in self.panels)
            or imgui.is_any_mouse_down()
        )

    def step(self) -> None:
        """Draw the next frame, first sleeping until something happens if nothing is moving (an idle window
        costs no CPU)."""
        if self._quiet_frames >= SETTLE_FRAMES and not self.animating:
            start = time.perf_counter()
            glfw.wait_events_timeout(IDLE_WAKE_SECONDS)
            if time.perf_counter() - start < IDLE_WAKE_SECONDS * 0.9:
                self._quiet_frames = 0  # woken by input or a result: draw until imgui has settled
        self.frame()

    def _wake(self) -> None:
        """From the renderer's thread: a result is ready, stop waiting for events."""
        if self.handle:
            glfw.post_empty_event()

    def run(self) -> None:
        try:
            while not self.should_close:
                self.step()
        finally:
            self.close()

    def close(self) -> None:
        self.settings["window_size"] = list(self.size) if self.handle else self.settings.get("window_size")
        self.settings["open_panels"] = self.open_panels
        self.settings.save()
        self.capture_widget.stop_recording()
        self.capture_widget.cancel_export()
        self.renderer.close()
        super().close()

    def handle_drop(self, path: str) -> None:
        """A file dropped on the window: a model opens, an image starts an inversion, a latent (.npz) is shown,
        anything else is an error."""
        suffix = Path(path).suffix.lower()
        if suffix in MODEL_SUFFIXES:
            self.model_widget.open(path)
        elif suffix in IMAGE_SUFFIXES:
            self.inversion_widget.start(path)
        elif suffix in LATENT_SUFFIXES:
            self.latent_widget.open_latent(path)
        else:
            self.report_error(
                f"{path}: drop a model (.pkl, .safetensors), an image to invert or a latent (.npz)"
            )

    # -- undo / redo and sessions ------------------------------------------------------------------------------

    def _record_history(self) -> None:
        """An edit becomes one undo step once it settles (no mouse button held, no inversion running)."""
        if (
            imgui.is_mouse_down(imgui.MouseButton_.left)
            or _same(self.args, self._last_snapshot)
            or self.args.inversion is not None
        ):
            return
        self.undo_stack = (self.undo_stack + [self._last_snapshot])[-UNDO_STEPS:]
        self.redo_stack = []
        self._last_snapshot = copy.deepcopy(self.args)

    def undo(self) -> None:
        if self.undo_stack:
            self.redo_stack = (self.redo_stack + [copy.deepcopy(self.args)])[-UNDO_STEPS:]
            self.args = self.undo_stack.pop()
            self._last_snapshot = copy.deepcopy(self.args)

    def redo(self) -> None:
        if self.redo_stack:
            self.undo_stack = (self.undo_stack + [copy.deepcopy(self.args)])[-UNDO_STEPS:]
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

    def save_session(self, path: str | Path) -> Path | None:
        keyframes = [dataclasses.asdict(end) for end in self.interpolation_widget.keyframes]
        try:
            return save_session(path, self.args, {"open_panels": self.open_panels, "keyframes": keyframes})
        except StyleGANError as error:
            self.report_error(str(error))
            return None

    def load_session(self, path: str | Path) -> bool:
        try:
            args, panels = load_session(path)
            keyframes = [_keyframe(item, index) for index, item in enumerate(panels.get("keyframes", []))]
        except StyleGANError as error:
            self.report_error(str(error))
            return False
        self.args = args
        self.open_panels.update(panels.get("open_panels", {}))
        self.interpolation_widget.keyframes = keyframes
        self.model_widget.path_text = args.model
        return True

    def set_async(self, threaded: bool) -> None:
        """Switch between the worker thread and rendering inside the frame, keeping the caches."""
        renderer = self.renderer.renderer
        self.renderer.close()
        self.renderer = AsyncRenderer(renderer, threaded=threaded, on_result=self._wake)
        self._requested_args = None

    def report_error(self, message: str) -> None:
        self.result = dataclasses.replace(self.result, error=message)
        self._print_once(message)

    def _print_once(self, message: str) -> None:
        """Print an error to the terminal the first time it is seen (among the last ones remembered)."""
        if message in self.errors_seen:
            return
        self.errors_seen[message] = None
        if len(self.errors_seen) > ERRORS_REMEMBERED:  # a long session's distinct errors must not pile up
            del self.errors_seen[next(iter(self.errors_seen))]
        print(f"error: {message}")

    # -- rendering ----------------------------------------------------------------------------------------------

    def _request_render(self) -> None:
        running_inversion = self.args.inversion is not None
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
        self.render_history = (self.render_history + [result.render_seconds])[-240:]
        self.model_widget.take_result(result)
        if result.image is not None:
            self.texture.upload(result.image)
            self.image_visible = True
            self.capture_widget.record(result.image)
            self.latency_seconds = time.perf_counter() - self._request_time
        elif result.model_failed:
            self.image_visible = False  # the old model's picture must not pass for the new one's
        if result.error:
            self._print_once(result.error)

    def wait_for_result(self, timeout: float = 30.0) -> RenderResult:
        """Render frames until the renderer has answered the current arguments (tests, screenshots)."""
        deadline = time.perf_counter() + timeout
        self.frame()
        while (
            self.renderer.busy
            or self.renderer.result_ready.is_set()
            or not _same(self.result.args, self._requested_args)
        ) and time.perf_counter() < deadline:
            self.frame()
        self.frame()
        return self.result

    def _draw_image_area(self, width: float, height: float) -> None:
        self.image_area = (0.0, 0.0, float(width), float(height))
        draw = imgui.get_background_draw_list()
        if self.texture.shape is not None and self.image_visible:
            image_height, image_width = self.texture.shape
            self.view.layout(width, height, image_width, image_height)
            self.texture.set_nearest(float(self.view.zoom).is_integer() and self.view.zoom >= 1)
            x0, y0, x1, y1 = self.view.rect(image_width, image_height)
            draw.add_image(imgui.ImTextureRef(self.texture.id), (x0, y0), (x1, y1))
        self._handle_image_mouse(width, height)
        if self.result.error:
            self._draw_error(self.result.error, width, height)
        notice = self.model_widget.notice
        if notice:
            draw.add_text((12, 10), imgui.get_color_u32((1, 0.85, 0.4, 1)), notice)

    def _draw_error(self, error: str, width: float, height: float) -> None:
        """The error along the bottom of the image area, wrapped to its width (clicks go through it)."""
        imgui.set_next_window_pos((10, height - 10), imgui.Cond_.always, (0, 1))
        imgui.set_next_window_size((width - 20, 0))
        imgui.push_style_color(imgui.Col_.window_bg, ERROR_BACKGROUND)
        flags = (
            imgui.WindowFlags_.no_decoration
            | imgui.WindowFlags_.no_inputs
            | imgui.WindowFlags_.no_move
            | imgui.WindowFlags_.no_saved_settings
            | imgui.WindowFlags_.no_focus_on_appearing
            | imgui.WindowFlags_.always_auto_resize
        )
        imgui.begin("##error", flags=flags)
        imgui.push_text_wrap_pos(width - 40)
        imgui.text_unformatted(f"Error: {error}"[:2000])
        imgui.pop_text_wrap_pos()
        imgui.end()
        imgui.pop_style_color()

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
            self.latent_widget.drag(io.mouse_delta.x, io.mouse_delta.y)


def _keyframe(item, index: int) -> InterpolationEnd:
    """A keyframe from a session's panel state, checked as a view's interpolation end is."""
    if not isinstance(item, dict):
        raise StyleGANError(f"keyframes[{index}]: expected a JSON object")
    try:
        return ViewArgs.from_json({"interp_a": item}, "args").interp_a
    except StyleGANError as error:
        raise StyleGANError(f"keyframes[{index}]: {error}") from None


def _same(a, b) -> bool:
    """Equality of argument values that may hold numpy arrays (views, their parts, plain values)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b)
    if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
        return type(a) is type(b) and all(
            _same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
        )
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b
