"""Equivariance panel (alias-free models): translate and rotate the input, with animation."""

from __future__ import annotations

import math
import time

from imgui_bundle import imgui


class EquivarianceWidget:
    def __init__(self, viz):
        self.viz = viz
        self.animate_translate = False
        self.animate_rotate = False
        self.speed = 0.1
        self._last = time.perf_counter()

    @property
    def hidden(self) -> bool:
        info = self.viz.model_info
        return info is not None and not info.alias_free

    @property
    def animating(self) -> bool:
        return (self.animate_translate or self.animate_rotate) and not self.hidden

    def __call__(self, show: bool) -> None:
        args = self.viz.args
        now = time.perf_counter()
        dt, self._last = now - self._last, now
        if self.animate_translate:
            args.translate_x = (args.translate_x + dt * self.speed + 1) % 2 - 1
        if self.animate_rotate:
            args.rotate = (args.rotate + dt * self.speed * math.pi) % (2 * math.pi)
        if not show:
            return
        _, args.translate_x = imgui.slider_float("translate x", args.translate_x, -1.0, 1.0)
        _, args.translate_y = imgui.slider_float("translate y", args.translate_y, -1.0, 1.0)
        degrees = math.degrees(args.rotate)
        changed, degrees = imgui.slider_float("rotate", degrees, 0.0, 360.0)
        if changed:
            args.rotate = math.radians(degrees)
        _, self.animate_translate = imgui.checkbox("Animate translation", self.animate_translate)
        imgui.same_line()
        _, self.animate_rotate = imgui.checkbox("Animate rotation", self.animate_rotate)
        self.viz.note_item("animate rotation")
        _, self.speed = imgui.slider_float("speed", self.speed, 0.01, 1.0)
        if imgui.button("Reset##transform"):
            args.translate_x = args.translate_y = args.rotate = 0.0
