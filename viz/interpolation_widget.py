"""Interpolation panel: endpoints A and B (a seed with its class, or the current latent), t, the space,
ping-pong animation, and keyframes for a path. Touching any of its controls turns interpolation on."""

from __future__ import annotations

import dataclasses
import time

from imgui_bundle import imgui

from stylegan.view import InterpolationEnd

SPACES = ["w", "z"]
SPACE_LABELS = ["W (linear)", "Z (spherical, classes blended)"]


class InterpolationWidget:
    def __init__(self, viz):
        self.viz = viz
        self.animate = False
        self.speed = 0.25  # t per second
        self._direction = 1.0
        self._last = time.perf_counter()
        self.keyframes: list[InterpolationEnd] = []

    @property
    def animating(self) -> bool:
        return self.animate and self.viz.args.interp_enabled

    def current_endpoint(self) -> InterpolationEnd:
        """The latent on screen as an endpoint."""
        ws = self.viz.result.ws
        if ws is None:
            return InterpolationEnd(
                seed=int(round(self.viz.args.seed_x)), class_index=self.viz.args.class_index
            )
        return InterpolationEnd(ws=ws.copy())

    def __call__(self, show: bool) -> None:
        args = self.viz.args
        now = time.perf_counter()
        if self.animate and args.interp_enabled:
            t = args.interp_t + self._direction * (now - self._last) * self.speed
            if not 0 <= t <= 1:
                self._direction = -self._direction
                t = min(max(t, 0.0), 1.0)
            args.interp_t = t
        self._last = now
        if not show:
            return
        info = self.viz.model_info
        touched = False
        _, args.interp_enabled = imgui.checkbox("Interpolate A -> B", args.interp_enabled)
        for name, label in (("interp_a", "A"), ("interp_b", "B")):
            end = getattr(args, name)
            imgui.push_id(label)
            if end.ws is not None:
                imgui.text(f"{label}: a latent")
                imgui.same_line()
                if imgui.button("use a seed"):
                    setattr(args, name, InterpolationEnd())
                    touched = True
            else:
                imgui.push_item_width(100)
                changed, seed = imgui.input_int(f"{label} seed", end.seed)
                if changed:
                    setattr(args, name, dataclasses.replace(end, seed=max(seed, 0)))
                    touched = True
                if info is not None and info.c_dim:
                    imgui.same_line()
                    value = -1 if end.class_index is None else end.class_index
                    changed, value = imgui.input_int("class", value)
                    if changed:
                        class_index = None if value < 0 else min(value, info.c_dim - 1)
                        setattr(args, name, dataclasses.replace(getattr(args, name), class_index=class_index))
                        touched = True
                imgui.pop_item_width()
            imgui.same_line()
            if imgui.button("current"):
                setattr(args, name, self.current_endpoint())
                touched = True
            imgui.pop_id()
        changed, args.interp_t = imgui.slider_float("t", args.interp_t, 0.0, 1.0)
        self.viz.note_item("interp t")
        touched |= changed
        changed, index = imgui.combo("space", SPACES.index(args.interp_space), SPACE_LABELS)
        if changed:
            args.interp_space, touched = SPACES[index], True
        changed, self.animate = imgui.checkbox("Ping-pong", self.animate)
        self.viz.note_item("ping-pong")
        touched |= changed and self.animate
        imgui.same_line()
        imgui.push_item_width(150)
        _, self.speed = imgui.slider_float("t/s", self.speed, 0.01, 2.0)
        imgui.pop_item_width()
        if touched:
            args.interp_enabled = True
        if imgui.button("Add current latent as keyframe"):
            self.keyframes.append(self.current_endpoint())
        imgui.same_line()
        if imgui.button("Clear keyframes"):
            self.keyframes = []
        imgui.text(f"{len(self.keyframes)} keyframes (Capture exports the path)")
