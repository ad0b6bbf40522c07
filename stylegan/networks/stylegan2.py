"""StyleGAN2 / StyleGAN2-ADA synthesis network.

A learned 4x4 constant is grown by one block per resolution; each block holds modulated 3x3 convolutions with
per-pixel noise and (depending on the architecture) a 1x1 ToRGB. Module, parameter and buffer names follow the
official networks (`b4.const`, `b8.conv0.weight`, `b8.torgb.affine.weight`, ...) so official weights load with
`load_state_dict` and no renaming.
"""

from __future__ import annotations

import math

import torch

from stylegan.networks.layers import NOISE_MODES, FullyConnectedLayer
from stylegan.networks.summary import LayerRow
from stylegan.ops.bias_act import ACTIVATIONS, bias_act
from stylegan.ops.conv2d_resample import conv2d_resample
from stylegan.ops.upfirdn2d import setup_filter, upsample2d

ARCHITECTURES = ("orig", "skip", "resnet")
FUSED_MODCONV_CHOICES = (True, False, "inference_only")


def modulated_conv2d(
    x: torch.Tensor,  # [N, I, H, W]
    weight: torch.Tensor,  # [O, I, k, k]
    styles: torch.Tensor,  # [N, I] per-sample scale of each input channel
    up: int = 1,  # upsampling factor
    padding: int = 0,  # padding of the (upsampled) input
    resample_filter: torch.Tensor | None = None,  # from setup_filter(), needed when up > 1
    demodulate: bool = True,  # normalise each output channel's weights to unit norm
    flip_weight: bool = True,  # True: correlation like torch's conv2d, False: true convolution
    fused: bool = True,  # one grouped convolution with per-sample weights, else scale the activations
) -> torch.Tensor:
    """Convolution whose weights are scaled per sample and input channel by `styles` (StyleGAN2 modulation).

    Both execution paths give the same result up to rounding: the fused one builds per-sample weights and runs a
    grouped convolution; the other scales the activations before and after one shared convolution, which is
    cheaper for large batches.
    """
    batch = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    if x.dtype == torch.float16 and demodulate:
        # Bring weights and styles to about unit size first so their products cannot overflow float16;
        # demodulation divides this scale out again.
        weight = weight * (
            1 / math.sqrt(in_channels * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True)
        )
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    per_sample = None
    demod = None
    if demodulate or fused:
        per_sample = weight.unsqueeze(0) * styles.reshape(batch, 1, in_channels, 1, 1)  # [N, O, I, k, k]
    if demodulate:
        demod = (per_sample.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, O]

    if not fused:
        x = x * styles.to(x.dtype).reshape(batch, in_channels, 1, 1)
        x = conv2d_resample(
            x, weight.to(x.dtype), f=resample_filter, up=up, padding=padding, flip_weight=flip_weight
        )
        if demod is not None:
            x = x * demod.to(x.dtype).reshape(batch, out_channels, 1, 1)
        return x

    if demod is not None:
        per_sample = per_sample * demod.reshape(batch, out_channels, 1, 1, 1)
    # The batch becomes the group dimension: sample n only sees its own weights.
    x = conv2d_resample(
        x.reshape(1, batch * in_channels, *x.shape[2:]),
        per_sample.reshape(batch * out_channels, in_channels, kh, kw).to(x.dtype),
        f=resample_filter,
        up=up,
        padding=padding,
        groups=batch,
        flip_weight=flip_weight,
    )
    return x.reshape(batch, out_channels, *x.shape[2:])


class SynthesisLayer(torch.nn.Module):
    """Modulated convolution (optionally upsampling by 2), then noise, bias, activation and clamp."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,  # output resolution
        kernel_size: int = 3,
        up: int = 1,  # 2 for conv0 of every block after b4
        use_noise: bool = True,  # add per-pixel noise scaled by a learned strength
        activation: str = "lrelu",  # a name from stylegan.ops.bias_act.ACTIVATIONS
        resample_filter: list[float] | tuple[float, ...] = (1, 3, 3, 1),
        conv_clamp: float | None = None,  # clamp the output to [-conv_clamp, conv_clamp]
    ):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.act_gain = ACTIVATIONS[activation].default_gain
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: str = "const",
        fused_modconv: bool = True,
        gain: float = 1,  # extra output scale; resnet blocks use sqrt(1/2) on conv1
    ) -> torch.Tensor:
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device)
            noise = noise * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        # Upsampling layers convolve, the others correlate: official weights were trained that way.
        x = modulated_conv2d(
            x,
            self.weight,
            styles,
            up=self.up,
            padding=self.padding,
            resample_filter=self.resample_filter,
            flip_weight=self.up == 1,
            fused=fused_modconv,
        )
        if noise is not None:
            x = x + noise.to(x.dtype)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=self.act_gain * gain, clamp=clamp)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, w_dim={self.w_dim}, "
            f"resolution={self.resolution}, up={self.up}, activation={self.activation}"
        )


class ToRGBLayer(torch.nn.Module):
    """Modulated 1x1 convolution to the colour channels, without demodulation, plus bias."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        kernel_size: int = 1,
        conv_clamp: float | None = None,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.w_dim = w_dim
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        # Without demodulation the equalised-learning-rate scale has to be applied explicitly.
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused_modconv)
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}, w_dim={self.w_dim}"


class Conv2dLayer(torch.nn.Module):
    """Unmodulated convolution with equalised learning rate; here the 1x1 upsampling shortcut of resnet blocks."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        up: int = 1,
        resample_filter: list[float] | tuple[float, ...] = (1, 3, 3, 1),
    ):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.up = up
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels])) if bias else None

    def forward(self, x: torch.Tensor, gain: float = 1) -> torch.Tensor:
        weight = (self.weight * self.weight_gain).to(x.dtype)
        # Same orientation rule as SynthesisLayer.
        x = conv2d_resample(
            x, weight, f=self.resample_filter, up=self.up, padding=self.padding, flip_weight=self.up == 1
        )
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return bias_act(x, bias, gain=gain)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}, up={self.up}"


class SynthesisBlock(torch.nn.Module):
    """One resolution: the 4x4 constant or an upsampling conv0, then conv1, and the image path.

    'skip' adds every block's ToRGB to the upsampled image of the blocks before it; 'orig' has a ToRGB only in
    the last block; 'resnet' adds an upsampled 1x1 shortcut around conv0/conv1 and also converts only at the end.
    """

    def __init__(
        self,
        in_channels: int,  # 0 for the first (4x4) block
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        is_last: bool,
        architecture: str = "skip",
        resample_filter: list[float] | tuple[float, ...] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
        use_fp16: bool = False,  # float16 on CUDA
        fp16_channels_last: bool = False,  # channels-last activations when running in float16
        fused_modconv_default: bool | str = True,  # used when forward() gets fused_modconv=None
        **layer_kwargs,  # use_noise, activation, kernel_size of the SynthesisLayers
    ):
        super().__init__()
        self.in_channels = in_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.is_last = is_last
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.channels_last = use_fp16 and fp16_channels_last
        self.fused_modconv_default = fused_modconv_default
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.num_conv = 0
        self.num_torgb = 0
        if in_channels == 0:
            self.const = torch.nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(
                in_channels,
                out_channels,
                w_dim,
                resolution,
                up=2,
                resample_filter=resample_filter,
                conv_clamp=conv_clamp,
                **layer_kwargs,
            )
            self.num_conv += 1
        self.conv1 = SynthesisLayer(
            out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp, **layer_kwargs
        )
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(
                in_channels, out_channels, kernel_size=1, bias=False, up=2, resample_filter=resample_filter
            )

    def forward(
        self,
        x: torch.Tensor | None,  # features from the previous block; None for the first block
        img: torch.Tensor | None,  # image so far (float32); None until the first ToRGB
        ws: torch.Tensor,  # [N, num_conv + num_torgb, w_dim]
        noise_mode: str = "const",
        force_fp32: bool = False,
        fused_modconv: bool | str | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        w_iter = iter(ws.unbind(dim=1))
        # float16 only on CUDA: CPU half-precision convolutions are slow and not what official CPU runs do.
        fp16 = self.use_fp16 and not force_fp32 and ws.device.type == "cuda"
        dtype = torch.float16 if fp16 else torch.float32
        memory_format = torch.channels_last if self.channels_last and fp16 else torch.contiguous_format
        if fused_modconv is None:
            fused_modconv = self.fused_modconv_default
        if fused_modconv == "inference_only":
            fused_modconv = not self.training
        layer_options = dict(noise_mode=noise_mode, fused_modconv=fused_modconv)

        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = x.to(memory_format=memory_format)
            x = self.conv1(x, next(w_iter), **layer_options)
        elif self.architecture == "resnet":
            x = x.to(dtype=dtype, memory_format=memory_format)
            shortcut = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x, next(w_iter), **layer_options)
            # Both branches carry a sqrt(1/2) gain so that their sum keeps unit variance.
            x = shortcut + self.conv1(x, next(w_iter), gain=math.sqrt(0.5), **layer_options)
        else:
            x = x.to(dtype=dtype, memory_format=memory_format)
            x = self.conv0(x, next(w_iter), **layer_options)
            x = self.conv1(x, next(w_iter), **layer_options)

        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.num_torgb:
            rgb = self.torgb(x, next(w_iter), fused_modconv=fused_modconv)
            rgb = rgb.to(dtype=torch.float32, memory_format=torch.contiguous_format)
            img = rgb if img is None else img + rgb
        return x, img

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, architecture={self.architecture}, use_fp16={self.use_fp16}"


class StyleGAN2Synthesis(torch.nn.Module):
    """The StyleGAN2 synthesis network: ws [N, num_ws, w_dim] -> image [N, img_channels, H, W] (float32).

    num_ws is two per block (one for b4) plus one for the last ToRGB. The ToRGB of every other block shares its
    w with the next block's conv0, as in the official network.
    """

    def __init__(
        self,
        w_dim: int,  # dimensionality of each w
        img_resolution: int,  # output resolution, a power of two >= 4
        img_channels: int,  # output colour channels
        channel_base: int = 32768,  # a block at resolution r has min(channel_base // r, channel_max) channels
        channel_max: int = 512,  # upper bound on the channels of any block
        num_fp16_res: int = 4,  # the blocks of the N highest resolutions (>= 8) run in float16 on CUDA
        architecture: str = "skip",  # image path: 'orig', 'skip' (ToRGB in every block) or 'resnet'
        resample_filter: list[float] | tuple[float, ...] = (1, 3, 3, 1),  # low-pass taps for upsampling
        conv_clamp: float | None = None,  # clamp every layer output to [-X, X]; None = no clamping
        fp16_channels_last: bool = False,  # channels-last activations in float16 blocks (speed only)
        fused_modconv_default: bool | str = True,  # True, False or 'inference_only' (fused when not training)
        use_noise: bool = True,  # per-pixel noise inputs in every SynthesisLayer
        activation: str = "lrelu",  # activation of the SynthesisLayers
        kernel_size: int = 3,  # kernel size of the SynthesisLayers (the official option name)
    ):
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, not {img_resolution}")
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, not {architecture!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}")
        if fused_modconv_default not in FUSED_MODCONV_CHOICES:
            raise ValueError(
                f"fused_modconv_default must be True, False or 'inference_only', not {fused_modconv_default!r}"
            )
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.num_fp16_res = num_fp16_res
        log2 = int(math.log2(img_resolution))
        self.block_resolutions = [2**i for i in range(2, log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        if min(channels.values()) < 1:
            raise ValueError(
                f"channel_base={channel_base} leaves no channels at {img_resolution}x{img_resolution}; "
                f"it must be at least {img_resolution}"
            )
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(
                channels[res // 2] if res > 4 else 0,
                channels[res],
                w_dim,
                res,
                img_channels,
                is_last=res == img_resolution,
                architecture=architecture,
                resample_filter=resample_filter,
                conv_clamp=conv_clamp,
                use_fp16=res >= fp16_resolution,
                fp16_channels_last=fp16_channels_last,
                fused_modconv_default=fused_modconv_default,
                use_noise=use_noise,
                activation=activation,
                kernel_size=kernel_size,
            )
            self.num_ws += block.num_conv + (block.num_torgb if block.is_last else 0)
            setattr(self, f"b{res}", block)

    def layers(self) -> list[LayerRow]:
        """One row per layer, in execution order (StyleGAN2 layers have no sampling rate or cutoff)."""
        rows = []
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            for name in ("conv0", "conv1", "torgb"):
                layer = getattr(block, name, None)
                if layer is not None:
                    rows.append(
                        LayerRow(f"b{res}.{name}", res, layer.out_channels, None, None, block.use_fp16)
                    )
        return rows

    def forward(
        self,
        ws: torch.Tensor,  # [N, num_ws, w_dim]
        noise_mode: str = "const",  # 'const': the stored noise_const buffers, 'random': fresh noise, 'none'
        force_fp32: bool = False,  # run every block in float32, also on CUDA
        update_emas: bool = False,  # accepted for a uniform call across generator families; nothing to update
        fused_modconv: bool | str | None = None,  # None: each block's fused_modconv_default
    ) -> torch.Tensor:
        del update_emas
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, not {noise_mode!r}")
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        ws = ws.to(torch.float32)
        x = img = None
        start = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            # Windows overlap by one: a block's ToRGB takes the w of the next block's conv0.
            block_ws = ws.narrow(1, start, block.num_conv + block.num_torgb)
            start += block.num_conv
            x, img = block(
                x, img, block_ws, noise_mode=noise_mode, force_fp32=force_fp32, fused_modconv=fused_modconv
            )
        return img

    def extra_repr(self) -> str:
        return (
            f"w_dim={self.w_dim}, num_ws={self.num_ws}, img_resolution={self.img_resolution}, "
            f"img_channels={self.img_channels}, num_fp16_res={self.num_fp16_res}"
        )
