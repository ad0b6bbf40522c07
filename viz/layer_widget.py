"""Layers panel: every synthesis layer with its size, channels and the precision it runs in; show one layer's
activations."""

from __future__ import annotations

from imgui_bundle import imgui

from gui_utils.layout import fit_label
from stylegan.view import FFT_RANGE_DB


class LayerWidget:
    def __init__(self, viz):
        self.viz = viz

    def __call__(self, show: bool) -> None:
        if not show:
            return
        args, result = self.viz.args, self.viz.result
        if imgui.selectable("output image", args.layer is None)[0]:
            args.layer = None
        imgui.begin_child("layers", (0, 160), imgui.ChildFlags_.borders)
        for layer in result.layers:
            # what runs, not what the layer may do: fp16 layers stay float32 on the CPU or with fp16 off
            precision = "fp16" if layer.fp16 else "fp32"
            label = f"{layer.name:<16} {layer.size:>4}px {layer.channels:>5} ch {precision}"
            if imgui.selectable(label, args.layer == layer.name)[0]:
                args.layer = layer.name
        imgui.end_child()
        if args.layer is None:
            return
        shape = result.layer_shape
        if shape:
            imgui.text(f"{args.layer}: {shape[0]} channels, {shape[1]}x{shape[2]}, {result.layer_dtype}")
        channels = shape[0] if shape else 1
        fit_label("channel")
        _, args.channel = imgui.slider_int("channel", args.channel, 0, max(channels - 1, 0))
        _, args.rgb = imgui.checkbox("RGB (3 channels)", args.rgb)
        imgui.same_line()
        _, args.normalize = imgui.checkbox("Normalise", args.normalize)
        imgui.same_line()
        _, args.fft = imgui.checkbox("FFT", args.fft)
        if args.fft:
            imgui.text_wrapped(
                f"Right half: the power spectrum, zero frequency in the centre, the layer's Nyquist frequency at the "
                f"edges; grey from -{FFT_RANGE_DB:g} dB (black) to +{FFT_RANGE_DB:g} dB (white) around the mean power."
            )
        fit_label("brightness dB")
        _, args.brightness_db = imgui.slider_float("brightness dB", args.brightness_db, -40.0, 40.0)
