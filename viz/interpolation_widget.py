"""Interpolation panel: endpoints A and B (a seed with its class, or the current latent), t, the space,
ping-pong animation, and keyframes for a path."""

from __future__ import annotations

import time

from imgui_bundle import imgui


class InterpolationWidget:
    def __init__(self, viz):
        self.viz = viz
        self.animate = False
        self.speed = 0.25  # t per second
        self._direction = 1.0
        self._last = time.perf_counter()
        self.keyframes: list[dict] = []  # endpoint dicts: seed + class, or ws

    def current_endpoint(self) -> dict:
        """The latent on screen as an endpoint."""
        ws = self.viz.result.get("ws")
        return dict(seed=None, class_index=None, ws=None if ws is None else ws.copy())

    def __call__(self, show: bool) -> None:
        args = self.viz.args
        now = time.perf_counter()
        if self.animate and args["interp_enabled"]:
            t = args["interp_t"] + self._direction * (now - self._last) * self.speed
            if not 0 <= t <= 1:
                self._direction = -self._direction
                t = min(max(t, 0.0), 1.0)
            args["interp_t"] = t
        self._last = now
        if not show:
            return
        _, args["interp_enabled"] = imgui.checkbox("Interpolate A -> B", args["interp_enabled"])
        for key, label in (("interp_a", "A"), ("interp_b", "B")):
            end = args[key]
            imgui.push_id(label)
            if end.get("ws") is not None:
                imgui.text(f"{label}: a latent")
                imgui.same_line()
                if imgui.button("use a seed"):
                    args[key] = dict(seed=0, class_index=None, ws=None)
            else:
                imgui.push_item_width(100)
                changed, seed = imgui.input_int(f"{label} seed", end.get("seed") or 0)
                if changed:
                    args[key] = {**end, "seed": max(seed, 0)}
                if self.viz.model_info.get("c_dim"):
                    imgui.same_line()
                    value = -1 if end.get("class_index") is None else end["class_index"]
                    changed, value = imgui.input_int("class", value)
                    if changed:
                        c_dim = self.viz.model_info["c_dim"]
                        args[key] = {**args[key], "class_index": None if value < 0 else min(value, c_dim - 1)}
                imgui.pop_item_width()
            imgui.same_line()
            if imgui.button("current"):
                args[key] = self.current_endpoint()
            imgui.pop_id()
        _, args["interp_t"] = imgui.slider_float("t", args["interp_t"], 0.0, 1.0)
        spaces = ["w", "z"]
        _, index = imgui.combo(
            "space", spaces.index(args["interp_space"]), ["W (linear)", "Z (spherical, classes blended)"]
        )
        args["interp_space"] = spaces[index]
        _, self.animate = imgui.checkbox("Ping-pong", self.animate)
        imgui.same_line()
        imgui.push_item_width(150)
        _, self.speed = imgui.slider_float("t/s", self.speed, 0.01, 2.0)
        imgui.pop_item_width()
        if imgui.button("Add current latent as keyframe"):
            self.keyframes.append(self.current_endpoint())
        imgui.same_line()
        if imgui.button("Clear keyframes"):
            self.keyframes = []
        imgui.text(f"{len(self.keyframes)} keyframes (Capture exports the path)")
