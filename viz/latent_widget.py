"""Seed panel: the seed, dragging through the 2-D seed grid, animation, snapping to integer seeds, and opening
a saved latent (.npz from `stylegan invert` or the Inversion panel)."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

from imgui_bundle import imgui

from gui_utils.layout import error_text, path_field
from stylegan.errors import StyleGANError
from stylegan.inversion import load_latent
from stylegan.latent import SEED_GRID_ROW

DRAG_PIXELS_PER_SEED = 100


class LatentWidget:
    def __init__(self, viz):
        self.viz = viz
        self.animate = False
        self.speed = 0.25  # seeds per second along x
        self.snap = True
        self.latent_path = ""
        self.latent_message = ""
        self.latent_error = ""
        self._last = time.perf_counter()

    @property
    def animating(self) -> bool:
        return self.animate

    def drag(self, dx: float, dy: float) -> None:
        """Dragging on the image moves through the seed grid (x: next seed, y: the row SEED_GRID_ROW on)."""
        args = self.viz.args
        args.latent_ws = None
        args.seed_x = float(args.seed_x) + dx / DRAG_PIXELS_PER_SEED
        args.seed_y = float(args.seed_y) + dy / DRAG_PIXELS_PER_SEED

    def open_latent(self, path: str | Path) -> bool:
        """Show a saved latent: it becomes `latent_ws`, and its class (if it has one) the class."""
        self.latent_path = str(path)
        info = self.viz.model_info
        self.latent_error = self.latent_message = ""
        if info is None:
            self.latent_error = "open a model first: a latent belongs to the model it was made with"
            return False
        try:
            # load_latent needs only the latent's shape and the class count of this model
            shape = SimpleNamespace(num_ws=info.num_ws, w_dim=info.w_dim, c_dim=info.c_dim)
            ws, class_index = load_latent(path, shape)
        except StyleGANError as error:
            self.latent_error = str(error)
            return False
        args = self.viz.args
        args.latent_ws = ws[0].numpy()
        args.interp_enabled = False
        if class_index is not None:
            args.class_index = class_index
        self.latent_message = f"showing {Path(path).name}" + (
            f" (class {class_index})" if class_index is not None else ""
        )
        return True

    def __call__(self, show: bool) -> None:
        args = self.viz.args
        now = time.perf_counter()
        if self.animate:
            args.seed_x = float(args.seed_x) + (now - self._last) * self.speed
        self._last = now
        if self.snap and not self.animate and not imgui.is_mouse_down(imgui.MouseButton_.left):
            args.seed_x, args.seed_y = float(round(args.seed_x)), float(round(args.seed_y))
        if not show:
            return
        if args.latent_ws is not None:
            imgui.text("Showing a given latent (inversion result or .npz)")
            if imgui.button("Back to seeds"):
                args.latent_ws = None
        seed = int(round(args.seed_x)) + int(round(args.seed_y)) * SEED_GRID_ROW
        changed, seed = imgui.input_int("Seed", seed)
        if changed:
            args.seed_x, args.seed_y = float(max(seed, 0)), 0.0
            args.latent_ws = None
        imgui.text(f"grid position x {args.seed_x:.2f}, y {args.seed_y:.2f} (drag on the image)")
        _, self.animate = imgui.checkbox("Animate", self.animate)
        self.viz.note_item("seed animate")
        imgui.same_line()
        _, self.snap = imgui.checkbox("Snap to seeds", self.snap)
        _, self.speed = imgui.slider_float("seeds/s", self.speed, 0.01, 5.0)
        self.latent_path, submitted = path_field(
            "##latent", self.latent_path, "Open##latent", lambda: self.viz.note_item("latent path")
        )
        self.viz.note_item("latent open")
        if submitted:
            if self.latent_path.strip():
                self.open_latent(self.latent_path.strip())
            else:
                self.latent_error = "type the path of a latent .npz (or drop one on the window)"
        if self.latent_error:
            error_text(self.latent_error)
        elif self.latent_message:
            imgui.text_wrapped(self.latent_message)
