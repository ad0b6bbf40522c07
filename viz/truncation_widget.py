"""Truncation panel: psi and cutoff towards the class centre; StyleGAN2 noise mode and seed."""

from __future__ import annotations

from imgui_bundle import imgui


class TruncationWidget:
    def __init__(self, viz):
        self.viz = viz

    def __call__(self, show: bool) -> None:
        if not show:
            return
        args, info = self.viz.args, self.viz.model_info
        num_ws = info.get("num_ws", 1)
        _, args["psi"] = imgui.slider_float("psi", args["psi"], -1.0, 2.0)
        cutoff = num_ws if args["cutoff"] is None else args["cutoff"]
        changed, cutoff = imgui.slider_int("cutoff", cutoff, 0, num_ws)
        if changed:
            args["cutoff"] = None if cutoff >= num_ws else cutoff
        if imgui.button("Reset"):
            args["psi"], args["cutoff"] = 1.0, None
        if info.get("has_noise"):
            modes = ["const", "random", "none"]
            _, index = imgui.combo("noise", modes.index(args["noise_mode"]), modes)
            args["noise_mode"] = modes[index]
            _, args["noise_seed"] = imgui.input_int("noise seed", args["noise_seed"])
