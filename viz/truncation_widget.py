"""Truncation panel: psi and cutoff towards the class centre; StyleGAN2 noise mode and seed."""

from __future__ import annotations

from imgui_bundle import imgui

NOISE_MODES = ["const", "random", "none"]


class TruncationWidget:
    def __init__(self, viz):
        self.viz = viz

    def __call__(self, show: bool) -> None:
        if not show:
            return
        args, info = self.viz.args, self.viz.model_info
        num_ws = info.num_ws if info is not None else 1
        _, args.psi = imgui.slider_float("psi", args.psi, -1.0, 2.0)
        self.viz.note_item("psi")
        cutoff = num_ws if args.cutoff is None else args.cutoff
        changed, cutoff = imgui.slider_int("cutoff", cutoff, 0, num_ws)
        if changed:
            args.cutoff = None if cutoff >= num_ws else cutoff
        if imgui.button("Reset"):
            args.psi, args.cutoff = 1.0, None
        if info is not None and info.has_noise:
            _, index = imgui.combo("noise", NOISE_MODES.index(args.noise_mode), NOISE_MODES)
            args.noise_mode = NOISE_MODES[index]
            changed, seed = imgui.input_int("noise seed", args.noise_seed)
            if changed:
                args.noise_seed = max(seed, 0)
