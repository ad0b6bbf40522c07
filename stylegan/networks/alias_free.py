"""Alias-free synthesis network of StyleGAN3, as used by StyleGAN-XL: Fourier input, modulated convolutions and
filtered leaky ReLUs whose filters are designed from each layer's `LayerSpec`."""

from __future__ import annotations

import math

import numpy as np
import torch

from stylegan.networks.layers import NOISE_MODES, FullyConnectedLayer
from stylegan.networks.specs import (
    InputSpec,
    LayerSpec,
    design_lowpass_filter,
    filter_padding,
    resampling_factors,
)
from stylegan.networks.summary import LayerRow
from stylegan.ops import conv2d_gradfix
from stylegan.ops.filtered_lrelu import filtered_lrelu


def modulated_conv2d(
    x: torch.Tensor,  # [N, I, H, W]
    weight: torch.Tensor,  # [O, I, k, k]
    styles: torch.Tensor,  # [N, I]
    demodulate: bool = True,
    padding: int = 0,
    input_gain: torch.Tensor | None = None,  # [], [I] or [N, I]: per-input-channel scale
    fused: bool = True,  # one grouped convolution with per-sample weights, else scale the activations
) -> torch.Tensor:
    """Convolution whose weights are scaled per sample by `styles`.

    Fused, the scaled weights run as one grouped convolution. Otherwise the styles scale the activations before
    one shared convolution and the demodulation scales its output: the same result up to rounding, with a
    convolution weight that does not depend on w (what the path-length pass needs, see conv2d_gradfix).
    """
    batch = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    if demodulate:
        # Normalising first keeps fp16 in range; demodulation undoes the scale exactly.
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    if demodulate or fused:
        w = weight.unsqueeze(0) * styles.reshape(batch, 1, in_channels, 1, 1)  # [N, O, I, k, k]
    demod = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt() if demodulate else None  # [N, O]
    gain = None if input_gain is None else input_gain.expand(batch, in_channels)

    if not fused:
        scale = styles if gain is None else styles * gain
        x = x * scale.to(x.dtype).reshape(batch, in_channels, 1, 1)
        x = conv2d_gradfix.conv2d(x, weight.to(x.dtype), padding=padding)
        return x if demod is None else x * demod.to(x.dtype).reshape(batch, out_channels, 1, 1)

    if demod is not None:
        w = w * demod.reshape(batch, out_channels, 1, 1, 1)
    if gain is not None:
        w = w * gain.reshape(batch, 1, in_channels, 1, 1)
    x = x.reshape(1, batch * in_channels, *x.shape[2:])
    w = w.reshape(batch * out_channels, in_channels, kh, kw)
    x = conv2d_gradfix.conv2d(x, w.to(x.dtype), padding=padding, groups=batch)
    return x.reshape(batch, out_channels, *x.shape[2:])


class SynthesisInput(torch.nn.Module):
    """Fourier features of random frequencies, rotated and translated per sample by an affine of w.

    `transform` is a user-settable 3x3 inverse transform of the output image (translate / rotate the canvas).
    """

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float):
        super().__init__()
        self.w_dim = w_dim
        self.channels = channels
        self.size = size
        self.sampling_rate = sampling_rate
        self.bandwidth = bandwidth

        # Frequencies fill a disc of radius `bandwidth`, denser towards the centre.
        freqs = torch.randn([channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs /= radii * radii.square().exp().pow(0.25)
        freqs *= bandwidth
        phases = torch.rand([channels]) - 0.5

        self.weight = torch.nn.Parameter(torch.randn([channels, channels]))
        self.affine = FullyConnectedLayer(w_dim, 4, weight_init=0, bias_init=[1, 0, 0, 0])
        self.register_buffer("transform", torch.eye(3, 3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", phases)

    @classmethod
    def from_spec(cls, w_dim: int, spec: InputSpec) -> SynthesisInput:
        return cls(w_dim, spec.channels, spec.size, spec.sampling_rate, spec.bandwidth)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        batch = w.shape[0]
        # t = (cos, sin, tx, ty) after normalising the rotation part.
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        rotation = torch.eye(3, device=w.device).repeat([batch, 1, 1])
        rotation[:, 0, 0] = t[:, 0]
        rotation[:, 0, 1] = -t[:, 1]
        rotation[:, 1, 0] = t[:, 1]
        rotation[:, 1, 1] = t[:, 0]
        translation = torch.eye(3, device=w.device).repeat([batch, 1, 1])
        translation[:, 0, 2] = -t[:, 2]
        translation[:, 1, 2] = -t[:, 3]
        transforms = rotation @ translation @ self.transform.unsqueeze(0)

        freqs = self.freqs.unsqueeze(0)
        phases = self.phases.unsqueeze(0) + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]
        # A user transform can push frequencies past the band; fade those out instead of aliasing.
        amplitudes = (
            1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)
        ).clamp(0, 1)

        theta = torch.eye(2, 3, device=w.device)
        theta[0, 0] = 0.5 * self.size / self.sampling_rate
        theta[1, 1] = 0.5 * self.size / self.sampling_rate
        grid = torch.nn.functional.affine_grid(
            theta.unsqueeze(0), [1, 1, self.size, self.size], align_corners=False
        )

        x = (grid.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)  # [N, H, W, C]
        x = x + phases.unsqueeze(1).unsqueeze(2)
        x = torch.sin(x * (2 * math.pi)) * amplitudes.unsqueeze(1).unsqueeze(2)
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2).contiguous()

    def extra_repr(self) -> str:
        return (
            f"w_dim={self.w_dim}, channels={self.channels}, size={self.size}, "
            f"sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}"
        )


class SynthesisLayer(torch.nn.Module):
    """Modulated convolution, then bias + leaky ReLU evaluated at a higher sampling rate between low-pass filters."""

    def __init__(self, w_dim: int, spec: LayerSpec):
        super().__init__()
        self.spec = spec
        self.w_dim = w_dim
        self.is_torgb = spec.is_torgb
        self.use_fp16 = spec.use_fp16
        self.in_channels = spec.in_channels
        self.out_channels = spec.out_channels
        self.conv_kernel = 1 if spec.is_torgb else spec.conv_kernel
        self.conv_clamp = spec.conv_clamp
        self.magnitude_ema_beta = spec.magnitude_ema_beta

        self.affine = FullyConnectedLayer(w_dim, spec.in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(
            torch.randn([spec.out_channels, spec.in_channels, self.conv_kernel, self.conv_kernel])
        )
        self.bias = torch.nn.Parameter(torch.zeros([spec.out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))

        self.up_factor, self.down_factor = resampling_factors(spec)
        tmp_rate = spec.tmp_sampling_rate
        up_taps = spec.filter_size * self.up_factor if self.up_factor > 1 and not spec.is_torgb else 1
        down_taps = spec.filter_size * self.down_factor if self.down_factor > 1 and not spec.is_torgb else 1
        self.register_buffer(
            "up_filter",
            design_lowpass_filter(up_taps, spec.in_cutoff, spec.in_half_width * 2, tmp_rate),
        )
        self.register_buffer(
            "down_filter",
            design_lowpass_filter(
                down_taps,
                spec.out_cutoff,
                spec.out_half_width * 2,
                tmp_rate,
                radial=spec.use_radial_filters and not spec.is_critically_sampled,
            ),
        )
        self.padding = filter_padding(spec, self.up_factor, self.down_factor, up_taps, down_taps)

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: str = "const",  # accepted for a uniform call across generator families; no noise here
        force_fp32: bool = False,
        update_emas: bool = False,
        fused_modconv: bool = True,  # see modulated_conv2d
    ) -> torch.Tensor:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be 'random', 'const' or 'none', not {noise_mode!r}")
        if update_emas:
            magnitude = x.detach().to(torch.float32).square().mean()
            self.magnitude_ema.copy_(magnitude.lerp(self.magnitude_ema, self.magnitude_ema_beta))
        input_gain = self.magnitude_ema.rsqrt()

        styles = self.affine(w)
        if self.is_torgb:
            styles = styles * (1 / math.sqrt(self.in_channels * self.conv_kernel**2))

        dtype = (
            torch.float16 if self.use_fp16 and not force_fp32 and x.device.type == "cuda" else torch.float32
        )
        x = modulated_conv2d(
            x.to(dtype),
            self.weight,
            styles,
            demodulate=not self.is_torgb,
            padding=self.conv_kernel - 1,
            input_gain=input_gain,
            fused=fused_modconv,
        )
        # The CPU's autocast (the bf16 preview) reaches the affine and the convolution only: the filters stay in
        # the layer's dtype, where their fast path is and where bf16 would cost more than it saves.
        with torch.autocast("cpu", enabled=False):
            return filtered_lrelu(
                x.to(dtype),
                fu=self.up_filter,
                fd=self.down_filter,
                b=self.bias.to(dtype),
                up=self.up_factor,
                down=self.down_factor,
                padding=self.padding,
                gain=1 if self.is_torgb else np.sqrt(2),
                slope=1 if self.is_torgb else 0.2,
                clamp=self.conv_clamp,
            )

    def extra_repr(self) -> str:
        s = self.spec
        return (
            f"{s.in_channels}->{s.out_channels}, size {s.in_size}->{s.out_size}, "
            f"rate {s.in_sampling_rate}->{s.out_sampling_rate}, cutoff {s.in_cutoff:g}->{s.out_cutoff:g}, "
            f"up={self.up_factor}, down={self.down_factor}, fp16={s.use_fp16}"
        )


class SynthesisNetwork(torch.nn.Module):
    """Input followed by the layers in `layers`; one w per layer plus one for the input (num_ws = len(layers) + 1).

    The constructor takes the layer specs as plain dicts so the whole layout is JSON config. `stem_layers` counts
    the leading layers inherited from the previous progressive-growing stage (frozen while the head trains).
    """

    def __init__(
        self,
        w_dim: int,  # dimensionality of w
        img_resolution: int,  # output resolution
        img_channels: int,  # output colour channels
        input: dict,  # InputSpec fields
        layers: list[dict],  # LayerSpec fields, in execution order, ToRGB last
        output_scale: float = 0.25,  # the image is multiplied by this at the end
        stem_layers: int = 0,  # leading layers that form a frozen stem (0: not grown)
        layout: dict | None = None,  # formula parameters the layers were designed with; growth continues them
    ):
        super().__init__()
        specs = [LayerSpec(**layer) for layer in layers]
        if not specs or not specs[-1].is_torgb:
            raise ValueError("the last layer must be the ToRGB layer")
        if specs[-1].out_size != img_resolution or specs[-1].out_channels != img_channels:
            raise ValueError("the ToRGB layer does not produce img_resolution x img_channels")
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.output_scale = output_scale
        self.stem_layers = stem_layers
        self.layout = dict(layout or {})
        self.num_ws = len(specs) + 1
        self.layer_specs = specs
        self.layer_names = [spec.name for spec in specs]
        self.input = SynthesisInput.from_spec(w_dim, InputSpec(**input))
        for spec in specs:
            self.add_module(spec.name, SynthesisLayer(w_dim, spec))

    @property
    def head_layer_names(self) -> list[str]:
        """Layers trained in the current stage (all of them for a network that was not grown)."""
        return self.layer_names[self.stem_layers :]

    def layers(self) -> list[LayerRow]:
        """The input, then one row per layer, in execution order."""
        source = self.input
        rows = [
            LayerRow("input", source.size, source.channels, source.sampling_rate, source.bandwidth, False)
        ]
        for spec in self.layer_specs:
            rows.append(LayerRow(spec.name, spec.out_size, spec.out_channels, spec.out_sampling_rate,
                                 spec.out_cutoff, spec.use_fp16))  # fmt: skip
        return rows

    def set_input_transform(self, angle: float, tx: float, ty: float) -> None:
        """Rotate the canvas by `angle` radians and translate it by (tx, ty) in input units."""
        cos, sin = math.cos(angle), math.sin(angle)
        matrix = torch.tensor([[cos, sin, tx], [-sin, cos, ty], [0.0, 0.0, 1.0]])
        self.input.transform.copy_(matrix)

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: str = "const",
        force_fp32: bool = False,
        update_emas: bool = False,
        fused_modconv: bool = True,  # False: modulate activations, as StyleGAN2 trains (see modulated_conv2d)
    ) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        ws = ws.to(torch.float32).unbind(dim=1)
        with torch.autocast("cpu", enabled=False):  # bf16 phases would visibly shift the Fourier features
            x = self.input(ws[0])
        for name, w in zip(self.layer_names, ws[1:], strict=True):
            x = getattr(self, name)(
                x,
                w,
                noise_mode=noise_mode,
                force_fp32=force_fp32,
                update_emas=update_emas,
                fused_modconv=fused_modconv,
            )
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(torch.float32)

    def extra_repr(self) -> str:
        return (
            f"w_dim={self.w_dim}, num_ws={self.num_ws}, img_resolution={self.img_resolution}, "
            f"img_channels={self.img_channels}, stem_layers={self.stem_layers}"
        )
