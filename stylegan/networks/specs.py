"""Layer specifications of the alias-free (StyleGAN3) synthesis network, and its low-pass filter design.

Every layer of the synthesis network is described by a `LayerSpec`: its channels, spatial size, sampling rate,
cutoff frequency and transition band. The specs come from a handful of formulas (StyleGAN3 paper, Sec. 3 and
Appendix F; StyleGAN-XL Sec. 3.3 for the superresolution heads) computed here and nowhere else. The synthesis
network is built from the resulting list, so a network's layout is plain data that can be saved as JSON.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import scipy.signal
import scipy.special
import torch


@dataclass(frozen=True)
class InputSpec:
    """The Fourier-feature input: a grid of sinusoids, before any layer."""

    channels: int  # number of Fourier features
    size: int  # spatial size in pixels, margin included
    sampling_rate: float  # samples per unit length of the output image
    bandwidth: float  # frequencies are drawn from a disc of this radius


@dataclass(frozen=True)
class LayerSpec:
    """One synthesis layer: a modulated convolution followed by a filtered leaky ReLU."""

    name: str  # module name, `L{index}_{out_size}_{out_channels}` as in the official code
    in_channels: int
    out_channels: int
    in_size: int  # spatial size of the input feature map, margin included
    out_size: int
    in_sampling_rate: int  # samples per unit length
    out_sampling_rate: int
    in_cutoff: float  # f_c of the input signal
    out_cutoff: float
    in_half_width: float  # f_h, half the width of the transition band
    out_half_width: float
    is_torgb: bool = False  # the final 1x1 layer that produces colour channels
    is_critically_sampled: bool = False  # cutoff at Nyquist: the last layers before ToRGB
    use_fp16: bool = False  # run in float16 when on CUDA
    conv_kernel: int = 3  # 3 for StyleGAN3-T, 1 for -R (ToRGB is always 1)
    conv_clamp: float | None = 256  # clamp pre-activations to [-X, X]; None disables
    use_radial_filters: bool = False  # radially symmetric downsampling filter (StyleGAN3-R)
    filter_size: int = 6  # low-pass taps per unit of the lower sampling rate
    lrelu_upsampling: int = 2  # the leaky ReLU runs at this multiple of the higher sampling rate
    magnitude_ema_beta: float = 0.999  # decay of the running input magnitude, only used while training

    @property
    def tmp_sampling_rate(self) -> int:
        """Sampling rate at which the nonlinearity is evaluated."""
        factor = 1 if self.is_torgb else self.lrelu_upsampling
        return max(self.in_sampling_rate, self.out_sampling_rate) * factor

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _geometric_specs(
    num_layers: int,
    num_critical: int,
    first_cutoff: float,
    first_stopband: float,
    img_resolution: int,
    last_stopband_rel: float,
    margin_size: int,
    channel_base: float,
    channel_max: int,
    img_channels: int,
) -> dict[str, np.ndarray]:
    """Cutoffs and stopbands grow geometrically from the first layer to the last non-critical one."""
    last_cutoff = img_resolution / 2
    last_stopband = last_cutoff * last_stopband_rel
    exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
    stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
    # The smallest power of two that holds the stopband, capped at the output resolution.
    sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    sizes = sampling_rates + margin_size * 2
    sizes[-2:] = img_resolution  # the critically sampled layer and ToRGB have no margin
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[-1] = img_channels
    return dict(
        cutoffs=cutoffs, stopbands=stopbands, sampling_rates=sampling_rates, sizes=sizes, channels=channels
    )


def _chain_layers(
    specs: dict[str, np.ndarray],
    first_index: int,
    num_critical: int,
    img_resolution: int,
    num_fp16_res: int,
    **layer_options,
) -> list[LayerSpec]:
    """Turn per-position arrays into layers; layer i maps position max(i-1, 0) to position i."""
    cutoffs, sampling_rates = specs["cutoffs"], specs["sampling_rates"]
    half_widths = np.maximum(specs["stopbands"], sampling_rates / 2) - cutoffs
    sizes, channels = specs["sizes"], specs["channels"]
    count = len(cutoffs) - 1  # layers before ToRGB
    layers = []
    for i in range(count + 1):
        prev = max(i - 1, 0)
        out_size, out_channels = int(sizes[i]), int(channels[i])
        layers.append(
            LayerSpec(
                name=f"L{first_index + i}_{out_size}_{out_channels}",
                in_channels=int(channels[prev]),
                out_channels=out_channels,
                in_size=int(sizes[prev]),
                out_size=out_size,
                in_sampling_rate=int(sampling_rates[prev]),
                out_sampling_rate=int(sampling_rates[i]),
                in_cutoff=float(cutoffs[prev]),
                out_cutoff=float(cutoffs[i]),
                in_half_width=float(half_widths[prev]),
                out_half_width=float(half_widths[i]),
                is_torgb=i == count,
                is_critically_sampled=i >= count - num_critical,
                use_fp16=bool(sampling_rates[i] * 2**num_fp16_res > img_resolution),
                **layer_options,
            )
        )
    return layers


def stem_specs(
    img_resolution: int,  # output resolution
    img_channels: int = 3,  # colour channels
    channel_base: float = 32768,  # channels of a layer = min(channel_base / 2 / cutoff, channel_max)
    channel_max: int = 512,  # maximum channels of any layer
    num_layers: int = 14,  # layers excluding the Fourier input and ToRGB
    num_critical: int = 2,  # critically sampled layers at the end
    first_cutoff: float = 2,  # f_c of the first layer
    first_stopband: float = 2**2.1,  # minimum stopband f_t of the first layer
    last_stopband_rel: float = 2**0.3,  # minimum stopband of the last layer, relative to its cutoff
    margin_size: int = 10,  # extra pixels around the image in the non-critical layers
    num_fp16_res: int = 4,  # layers whose sampling rate is within this many octaves of the output use fp16
    **layer_options,  # the remaining LayerSpec fields (conv_kernel, conv_clamp, use_radial_filters, ...)
) -> tuple[InputSpec, list[LayerSpec]]:
    """Specs of a StyleGAN3 synthesis network, or of a StyleGAN-XL stem."""
    specs = _geometric_specs(
        num_layers,
        num_critical,
        first_cutoff,
        first_stopband,
        img_resolution,
        last_stopband_rel,
        margin_size,
        channel_base,
        channel_max,
        img_channels,
    )
    layers = _chain_layers(specs, 0, num_critical, img_resolution, num_fp16_res, **layer_options)
    first = layers[0]
    # Layer 0 maps position 0 to itself, so its input spec is the Fourier input's.
    input_spec = InputSpec(
        channels=first.in_channels,
        size=first.in_size,
        sampling_rate=float(specs["sampling_rates"][0]),
        bandwidth=float(specs["cutoffs"][0]),
    )
    return input_spec, layers


def synthesis_config(
    input_spec: InputSpec, layers: list[LayerSpec], layout: dict, stem_layers: int = 0
) -> dict:
    """The alias-free synthesis network's constructor arguments (JSON-able) for these specs: the input and layer
    specs as plain dicts, the frozen stem's length, and the layout parameters that growth continues."""
    kwargs = dict(
        input=dataclasses.asdict(input_spec),
        layers=[layer.to_dict() for layer in layers],
        layout=dict(layout),
    )
    if stem_layers:
        kwargs["stem_layers"] = stem_layers
    return kwargs


def superres_specs(
    layers: list[LayerSpec],  # the trained network's layers, ToRGB included
    head_layers: int,  # new layers to add, ToRGB excluded
    up_factor: int,  # 2, 4, 8 or 16
    img_channels: int = 3,
    channel_base: float = 32768,
    channel_max: int = 512,
    margin_size: int = 10,
    last_stopband_rel: float = 2**0.3,
    num_fp16_res: int = 4,
    num_critical: int = 2,
    **layer_options,
) -> list[LayerSpec]:
    """Specs after one StyleGAN-XL superresolution stage.

    The critically sampled layers and ToRGB are removed; the new head continues the geometric progression from
    the last kept layer's output up to the new resolution. Head names continue the official numbering,
    `L{kept + 1 + i}`, which skips one index after the kept layers.
    """
    if up_factor not in (2, 4, 8, 16):
        raise ValueError(f"up_factor must be 2, 4, 8 or 16, not {up_factor}")
    if head_layers <= num_critical:
        raise ValueError(f"head_layers must exceed num_critical={num_critical}, not {head_layers}")
    kept = [layer for layer in layers if not layer.is_critically_sampled]
    last = kept[-1]
    img_resolution = layers[-1].out_size * up_factor
    specs = _geometric_specs(
        head_layers,
        num_critical,
        last.out_cutoff,
        last.out_cutoff + last.out_half_width,
        img_resolution,
        last_stopband_rel,
        margin_size,
        channel_base,
        channel_max,
        img_channels,
    )
    # The head starts exactly where the stem ended.
    specs["sampling_rates"][0] = last.out_sampling_rate
    specs["sizes"][0] = last.out_sampling_rate + margin_size * 2
    specs["channels"][0] = last.out_channels
    head = _chain_layers(specs, len(kept) + 1, num_critical, img_resolution, num_fp16_res, **layer_options)
    return kept + head


def design_lowpass_filter(
    numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False
) -> torch.Tensor | None:
    """Kaiser-windowed low-pass filter; None when a single tap (identity) suffices.

    Separable filters are 1-D (applied along both axes); radial ones are a 2-D jinc, windowed along both axes.
    """
    if numtaps < 1:
        raise ValueError(f"numtaps must be at least 1, not {numtaps}")
    if numtaps == 1:
        return None
    if not radial:
        taps = scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs)
        return torch.as_tensor(taps, dtype=torch.float32)
    coords = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    radius = np.hypot(*np.meshgrid(coords, coords))
    jinc = scipy.special.j1(2 * cutoff * (np.pi * radius)) / (np.pi * radius)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    window = np.kaiser(numtaps, beta)
    taps = jinc * np.outer(window, window)
    return torch.as_tensor(taps / taps.sum(), dtype=torch.float32)


def filter_padding(
    spec: LayerSpec, up_factor: int, down_factor: int, up_taps: int, down_taps: int
) -> list[int]:
    """Padding [x0, x1, y0, y1] that makes the filtered output exactly `out_size` pixels.

    Sample positions follow the symmetric interpretation of StyleGAN3 (Appendix C.3), hence the shift by
    `up_factor` before halving.
    """
    kernel = 1 if spec.is_torgb else spec.conv_kernel
    total = (spec.out_size - 1) * down_factor + 1
    total -= (spec.in_size + kernel - 1) * up_factor
    total += up_taps + down_taps - 2
    low = (total + up_factor) // 2
    high = total - low
    return [low, high, low, high]


def resampling_factors(spec: LayerSpec) -> tuple[int, int]:
    """Integer up- and downsampling factors around the nonlinearity."""
    tmp = spec.tmp_sampling_rate
    up = int(round(tmp / spec.in_sampling_rate))
    down = int(round(tmp / spec.out_sampling_rate))
    if spec.in_sampling_rate * up != tmp or spec.out_sampling_rate * down != tmp:
        raise ValueError(
            f"{spec.name}: sampling rates {spec.in_sampling_rate}->{spec.out_sampling_rate} "
            "are not integer ratios of the nonlinearity's rate"
        )
    return up, down
