"""Seed panel: the seed, dragging through the 2-D seed grid, animation, snapping to integer seeds."""

from __future__ import annotations

import time

from imgui_bundle import imgui

DRAG_PIXELS_PER_SEED = 100


class LatentWidget:
    def __init__(self, viz):
        self.viz = viz
        self.animate = False
        self.speed = 0.25  # seeds per second along x
        self.snap = True
        self._last = time.perf_counter()

    def drag(self, dx: float, dy: float) -> None:
        """Dragging on the image moves through the seed grid (x: next seed, y: the row SEED_GRID_ROW on)."""
        args = self.viz.args
        args["latent_ws"] = None
        args["seed_x"] = float(args["seed_x"]) + dx / DRAG_PIXELS_PER_SEED
        args["seed_y"] = float(args["seed_y"]) + dy / DRAG_PIXELS_PER_SEED

    def __call__(self, show: bool) -> None:
        args = self.viz.args
        now = time.perf_counter()
        if self.animate:
            args["seed_x"] = float(args["seed_x"]) + (now - self._last) * self.speed
        self._last = now
        if self.snap and not self.animate and not imgui.is_mouse_down(imgui.MouseButton_.left):
            args["seed_x"], args["seed_y"] = float(round(args["seed_x"])), float(round(args["seed_y"]))
        if not show:
            return
        if args["latent_ws"] is not None:
            imgui.text("Showing a given latent (inversion result)")
            if imgui.button("Back to seeds"):
                args["latent_ws"] = None
        seed = int(round(args["seed_x"])) + int(round(args["seed_y"])) * 100
        changed, seed = imgui.input_int("Seed", seed)
        if changed:
            args["seed_x"], args["seed_y"] = float(max(seed, 0)), 0.0
            args["latent_ws"] = None
        imgui.text(f"grid position x {args['seed_x']:.2f}, y {args['seed_y']:.2f} (drag on the image)")
        _, self.animate = imgui.checkbox("Animate", self.animate)
        imgui.same_line()
        _, self.snap = imgui.checkbox("Snap to seeds", self.snap)
        _, self.speed = imgui.slider_float("seeds/s", self.speed, 0.01, 5.0)
