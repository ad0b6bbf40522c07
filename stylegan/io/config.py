"""The generator config a model file states, checked before anything is built from it.

`Generator(**config)` builds whatever sizes it is given: a 5 KB file could ask for a mapping network 30,000
features wide or 100,000 layers deep, and the constructor would spend gigabytes and minutes on random
initialisation before a single weight is read. `check_config` checks the type and range of every value (the
ranges are far beyond any published network), and `state_numel` says how many values the state dict of
`Generator(**config)` holds, computed from the config alone, so that a loader compares it with the weights the
file really contains before it constructs anything.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
from collections.abc import Callable
from typing import Any

import torch

from stylegan.io.untrusted import ContentError, escape, excerpt
from stylegan.networks.generator import ARCHITECTURES, Generator
from stylegan.networks.mapping import MappingNetwork
from stylegan.networks.specs import LayerSpec, resampling_factors
from stylegan.networks.stylegan2 import ARCHITECTURES as STYLEGAN2_ARCHITECTURES
from stylegan.networks.stylegan2 import StyleGAN2Synthesis
from stylegan.networks.stylegan2 import SynthesisLayer as StyleGAN2Layer
from stylegan.ops.bias_act import ACTIVATIONS

MAX_FEATURES = 1 << 16  # z_dim, w_dim, channels and widths of any layer (published networks: 1024 at most)
MAX_CLASSES = 1 << 20  # c_dim and class-table rows (ImageNet: 1000)
MAX_SIZE = 1 << 16  # spatial size and sampling rate of any layer (published: 1044)
MAX_RESOLUTION = 1 << 14  # of the output image
MAX_LAYERS = 512  # synthesis layers (StyleGAN-XL at 1024: 53)
MAX_MAPPING_LAYERS = 64  # (StyleGAN2 config F: 8)
MAX_RESAMPLING = 32  # up- or downsampling factor around one nonlinearity (published: 4)
MAX_TAPS = 512  # of one low-pass filter (published: 24)
_LAYER_NAME = re.compile(r"L\d{1,4}_\d{1,6}_\d{1,6}")  # the official naming, `L{index}_{size}_{channels}`

Check = Callable[[Any, str], Any]


# value checks ---------------------------------------------------------------------------------------------


def _integer(low: int, high: int) -> Check:
    def check(value: Any, where: str) -> int:
        if type(value) is not int:
            raise ContentError(f"{where} must be an integer, not {excerpt(value)}")
        if not low <= value <= high:
            raise ContentError(f"{where} = {excerpt(value)} is out of range ({low} to {high})")
        return value

    return check


def _number(low: float, high: float, above_low: bool = False) -> Check:
    def check(value: Any, where: str) -> int | float:
        if type(value) not in (int, float):
            raise ContentError(f"{where} must be a number, not {excerpt(value)}")
        if type(value) is int and abs(value) > 2**53:
            raise ContentError(f"{where} = {excerpt(value)} is out of range")
        if not math.isfinite(value) or not (low < value if above_low else low <= value) or value > high:
            bound = f"above {low}" if above_low else f"from {low}"
            raise ContentError(f"{where} = {excerpt(value)} is out of range ({bound} to {high})")
        return value

    return check


def _boolean(value: Any, where: str) -> bool:
    if type(value) is not bool:
        raise ContentError(f"{where} must be true or false, not {excerpt(value)}")
    return value


def _one_of(*choices: str) -> Check:
    def check(value: Any, where: str) -> str:
        if type(value) is not str or value not in choices:
            raise ContentError(f"{where} must be one of {', '.join(choices)}, not {excerpt(value)}")
        return value

    return check


def _optional(check: Check) -> Check:
    return lambda value, where: None if value is None else check(value, where)


def _fields(value: Any, where: str, fields: dict[str, Check], required: tuple[str, ...] = ()) -> dict:
    """A checked copy of the dict `value`, whose keys must all be in `fields`."""
    if type(value) is not dict:
        raise ContentError(f"{where} must be a JSON object, not {excerpt(value)}")
    for key in value:
        if key not in fields:
            raise ContentError(f"{where} has an unknown option {excerpt(key)}")
    missing = [key for key in required if key not in value]
    if missing:
        raise ContentError(f"{where} lacks {', '.join(missing)}")
    return {key: fields[key](item, f"{where}.{key}") for key, item in value.items()}


def _layer_name(value: Any, where: str) -> str:
    if type(value) is not str or not _LAYER_NAME.fullmatch(value):
        raise ContentError(f"{where} must be a layer name like L3_52_1024, not {excerpt(value)}")
    return value


def _resample_filter(value: Any, where: str) -> list:
    if type(value) not in (list, tuple) or not 1 <= len(value) <= 16:
        raise ContentError(f"{where} must be a list of 1 to 16 filter taps, not {excerpt(value)}")
    taps = [_number(-1e6, 1e6)(tap, f"{where}[{index}]") for index, tap in enumerate(value)]
    if sum(taps) == 0:
        raise ContentError(f"{where}: the taps sum to zero")
    return taps


def _fused_modconv(value: Any, where: str) -> bool | str:
    if type(value) is bool or (type(value) is str and value == "inference_only"):
        return value
    raise ContentError(f"{where} must be true, false or 'inference_only', not {excerpt(value)}")


_FEATURES = _integer(1, MAX_FEATURES)
_SIZE = _integer(1, MAX_SIZE)
_FREQUENCY = _number(0, MAX_SIZE, above_low=True)
_BETA = _number(0, 1)

_MAPPING: dict[str, Check] = {
    "num_layers": _integer(1, MAX_MAPPING_LAYERS),
    "lr_multiplier": _number(0, 1e6, above_low=True),
    "w_avg_beta": _BETA,
    "class_embedding": _one_of("table", "linear"),
    "embed_classes": _optional(_integer(0, MAX_CLASSES)),
    "embed_dim": _FEATURES,
    "embed_features": _optional(_FEATURES),
    "layer_features": _optional(_FEATURES),
}
_INPUT: dict[str, Check] = {
    "channels": _FEATURES,
    "size": _SIZE,
    "sampling_rate": _FREQUENCY,
    "bandwidth": _FREQUENCY,
}
_LAYER: dict[str, Check] = {
    "name": _layer_name,
    "in_channels": _FEATURES,
    "out_channels": _FEATURES,
    "in_size": _SIZE,
    "out_size": _SIZE,
    "in_sampling_rate": _SIZE,
    "out_sampling_rate": _SIZE,
    "in_cutoff": _FREQUENCY,
    "out_cutoff": _FREQUENCY,
    "in_half_width": _number(0, MAX_SIZE),
    "out_half_width": _number(0, MAX_SIZE),
    "is_torgb": _boolean,
    "is_critically_sampled": _boolean,
    "use_fp16": _boolean,
    "conv_kernel": _integer(1, 15),
    "conv_clamp": _optional(_number(0, 1e30, above_low=True)),
    "use_radial_filters": _boolean,
    "filter_size": _integer(1, 64),
    "lrelu_upsampling": _integer(1, 16),
    "magnitude_ema_beta": _BETA,
}
_LAYOUT: dict[str, Check] = {
    "channel_base": _number(0, 1 << 26, above_low=True),
    "channel_max": _FEATURES,
    "margin_size": _integer(0, 4096),
    "last_stopband_rel": _number(0, 64, above_low=True),
    "num_fp16_res": _integer(0, 32),
}
_STYLEGAN2: dict[str, Check] = {
    "channel_base": _integer(1, 1 << 26),
    "channel_max": _FEATURES,
    "num_fp16_res": _integer(0, 32),
    "architecture": _one_of(*STYLEGAN2_ARCHITECTURES),
    "resample_filter": _resample_filter,
    "conv_clamp": _optional(_number(0, 1e30, above_low=True)),
    "fp16_channels_last": _boolean,
    "fused_modconv_default": _fused_modconv,
    "use_noise": _boolean,
    "activation": _one_of(*ACTIVATIONS),
    "kernel_size": _integer(1, 15),
}
_REQUIRED_LAYER_FIELDS = tuple(
    field.name for field in dataclasses.fields(LayerSpec) if field.default is dataclasses.MISSING
)


# the config -----------------------------------------------------------------------------------------------


def check_config(config: Any) -> dict:
    """A checked copy of a Generator config read from a file.

    Raises ContentError naming the first value of the wrong type, out of its range, or inconsistent with the
    rest (a layer chain whose sizes do not connect, a ToRGB layer that does not make the image).
    """
    top = _fields(
        config,
        "config",
        {
            "z_dim": _integer(0, MAX_FEATURES),
            "c_dim": _integer(0, MAX_CLASSES),
            "w_dim": _FEATURES,
            "img_resolution": _integer(1, MAX_RESOLUTION),
            "img_channels": _integer(1, 64),
            "architecture": _one_of(*ARCHITECTURES),
            "mapping_kwargs": lambda value, where: _fields(value, where, _MAPPING),
            "synthesis_kwargs": lambda value, where: value,  # checked below, once the family is known
        },
        required=("z_dim", "c_dim", "w_dim", "img_resolution"),
    )
    mapping = top.setdefault("mapping_kwargs", {})
    if mapping.get("class_embedding", "table") == "table" and top["c_dim"]:
        rows = mapping.get("embed_classes")
        if rows is not None and rows < top["c_dim"]:
            raise ContentError(
                f"config.mapping_kwargs.embed_classes = {rows} is less than c_dim = {top['c_dim']}"
            )
    architecture = top.get("architecture", "stylegan-xl")
    synthesis = top.get("synthesis_kwargs", {})
    if architecture == "stylegan2":
        top["synthesis_kwargs"] = _check_stylegan2(synthesis, top)
    else:
        top["synthesis_kwargs"] = _check_alias_free(synthesis, top)
    return top


def _check_stylegan2(value: Any, top: dict) -> dict:
    kwargs = _fields(value, "config.synthesis_kwargs", _STYLEGAN2)
    resolution = top["img_resolution"]
    if resolution < 4 or resolution & (resolution - 1):
        raise ContentError(f"config.img_resolution = {resolution} must be a power of two, at least 4")
    channel_base = kwargs.get("channel_base", _default(StyleGAN2Synthesis, "channel_base"))
    if channel_base < resolution:
        raise ContentError(
            f"config.synthesis_kwargs.channel_base = {channel_base} leaves no channels at {resolution}"
        )
    if kwargs.get("kernel_size", 3) % 2 == 0:
        raise ContentError("config.synthesis_kwargs.kernel_size must be odd")
    return kwargs


def _check_alias_free(value: Any, top: dict) -> dict:
    where = "config.synthesis_kwargs"
    kwargs = _fields(
        value,
        where,
        {
            "input": lambda item, at: _fields(item, at, _INPUT, required=tuple(_INPUT)),
            "layers": lambda item, at: item,  # checked below
            "output_scale": _number(-1e6, 1e6),
            "stem_layers": _integer(0, MAX_LAYERS),
            "layout": lambda item, at: _fields(item, at, _LAYOUT),
        },
        required=("input", "layers"),
    )
    layers = kwargs["layers"]
    if type(layers) is not list or not 1 <= len(layers) <= MAX_LAYERS:
        raise ContentError(
            f"{where}.layers must be a list of 1 to {MAX_LAYERS} layers, not {excerpt(layers)}"
        )
    kwargs["layers"] = [
        _fields(layer, f"{where}.layers[{index}]", _LAYER, required=_REQUIRED_LAYER_FIELDS)
        for index, layer in enumerate(layers)
    ]
    _check_layer_chain(kwargs["input"], kwargs["layers"], top)
    if kwargs.get("stem_layers", 0) > len(layers):
        raise ContentError(f"{where}.stem_layers = {kwargs['stem_layers']} is more than there are layers")
    return kwargs


def _check_layer_chain(input_spec: dict, layers: list[dict], top: dict) -> None:
    """The layers must connect: each one's input is the previous one's output, the first one's is the Fourier
    input, and only the last one, ToRGB, makes the image. The filters each layer designs must stay small."""
    where = "config.synthesis_kwargs.layers"
    previous = dict(
        out_channels=input_spec["channels"],
        out_size=input_spec["size"],
        out_sampling_rate=input_spec["sampling_rate"],
        name="the input",
    )
    names = set()
    for index, layer in enumerate(layers):
        at = f"{where}[{index}] ({layer['name']})"
        if layer["name"] in names:
            raise ContentError(f"{at}: a second layer of that name")
        names.add(layer["name"])
        for field in ("channels", "size", "sampling_rate"):
            if layer[f"in_{field}"] != previous[f"out_{field}"]:
                raise ContentError(
                    f"{at}: in_{field} = {layer[f'in_{field}']} does not match the output of {previous['name']} "
                    f"({previous[f'out_{field}']})"
                )
        if layer.get("is_torgb", False) != (index == len(layers) - 1):
            raise ContentError(f"{at}: the ToRGB layer must be the last one, and only the last one")
        spec = LayerSpec(**layer)
        try:
            factors = resampling_factors(spec)
        except ValueError:
            raise ContentError(f"{at}: its sampling rates are not integer multiples of each other") from None
        if max(factors) > MAX_RESAMPLING or spec.filter_size * max(factors) > MAX_TAPS:
            raise ContentError(
                f"{at}: resampling by {factors} would need filters of more than {MAX_TAPS} taps"
            )
        previous = layer
    if previous["out_size"] != top["img_resolution"] or previous["out_channels"] != top.get(
        "img_channels", 3
    ):
        raise ContentError(f"{where}: the last layer does not produce img_resolution x img_channels")


# the weights a config implies -----------------------------------------------------------------------------


def _default(cls: type, name: str) -> Any:
    return inspect.signature(cls.__init__).parameters[name].default


def _dense(in_features: int, out_features: int, bias: bool = True) -> int:
    return in_features * out_features + (out_features if bias else 0)


def state_numel(config: dict) -> int:
    """The number of values in `Generator(**config).state_dict()`, from a checked config alone (nothing is
    built). tests/test_hostile_models.py pins it to the real modules of every family and preset."""
    z_dim, c_dim, w_dim = config["z_dim"], config["c_dim"], config["w_dim"]
    mapping = config.get("mapping_kwargs") or {}
    synthesis = config.get("synthesis_kwargs") or {}
    channels = config.get("img_channels", 3)
    if config.get("architecture", "stylegan-xl") == "stylegan2":
        return _mapping_numel(z_dim, c_dim, w_dim, mapping) + _stylegan2_numel(
            w_dim, config["img_resolution"], channels, synthesis
        )
    return _mapping_numel(z_dim, c_dim, w_dim, mapping) + _alias_free_numel(w_dim, synthesis)


def _mapping_numel(z_dim: int, c_dim: int, w_dim: int, kwargs: dict) -> int:
    def option(name: str) -> Any:
        return kwargs.get(name, _default(MappingNetwork, name))

    total = 0
    if option("class_embedding") == "table":
        rows = c_dim if option("embed_classes") is None else option("embed_classes")
        total += rows * option("embed_dim")
        if c_dim > 0:
            total += _dense(option("embed_dim"), z_dim)
        conditioning = z_dim if c_dim > 0 else 0
        total += c_dim * w_dim if c_dim > 0 else w_dim  # w_avg: one centre per class, or one
    else:
        conditioning = (
            (w_dim if option("embed_features") is None else option("embed_features")) if c_dim else 0
        )
        if c_dim > 0:
            total += _dense(c_dim, conditioning)
        total += w_dim
    hidden = w_dim if option("layer_features") is None else option("layer_features")
    features = [z_dim + conditioning] + [hidden] * (option("num_layers") - 1) + [w_dim]
    return total + sum(_dense(a, b) for a, b in zip(features[:-1], features[1:], strict=True))


def _alias_free_numel(w_dim: int, kwargs: dict) -> int:
    fourier = kwargs["input"]["channels"]
    # weight, affine (w -> rotation and translation), transform, freqs, phases
    total = fourier * fourier + _dense(w_dim, 4) + 9 + fourier * 2 + fourier
    for layer in kwargs["layers"]:
        spec = LayerSpec(**layer)
        kernel = 1 if spec.is_torgb else spec.conv_kernel
        total += _dense(w_dim, spec.in_channels)  # affine
        total += (
            spec.out_channels * spec.in_channels * kernel * kernel + spec.out_channels + 1
        )  # magnitude_ema
        up, down = resampling_factors(spec)
        up_taps = spec.filter_size * up if up > 1 and not spec.is_torgb else 1
        down_taps = spec.filter_size * down if down > 1 and not spec.is_torgb else 1
        radial = spec.use_radial_filters and not spec.is_critically_sampled
        total += up_taps if up_taps > 1 else 0
        total += (down_taps**2 if radial else down_taps) if down_taps > 1 else 0
    return total


def _stylegan2_numel(w_dim: int, resolution: int, img_channels: int, kwargs: dict) -> int:
    def option(name: str) -> Any:
        return kwargs.get(name, _default(StyleGAN2Synthesis, name))

    def filter_numel(taps: list | tuple) -> int:
        return len(taps) if len(taps) >= 8 else len(taps) ** 2  # setup_filter keeps 8 or more taps separable

    block_filter = filter_numel(option("resample_filter"))
    conv1_filter = filter_numel(_default(StyleGAN2Layer, "resample_filter"))  # conv1 does not resample
    kernel, noise, architecture = option("kernel_size"), option("use_noise"), option("architecture")

    def layer(in_channels: int, out_channels: int, res: int, filter_size: int) -> int:
        noise_numel = res * res + 1 if noise else 0  # noise_const, noise_strength
        conv = out_channels * in_channels * kernel * kernel + out_channels
        return filter_size + _dense(w_dim, in_channels) + conv + noise_numel

    resolutions = [2**i for i in range(2, int(math.log2(resolution)) + 1)]
    width = {res: min(option("channel_base") // res, option("channel_max")) for res in resolutions}
    total = 0
    for res in resolutions:
        in_channels, out_channels = (width[res // 2] if res > 4 else 0), width[res]
        total += block_filter
        if in_channels == 0:
            total += out_channels * res * res  # const
        else:
            total += layer(in_channels, out_channels, res, block_filter)  # conv0
        total += layer(out_channels, out_channels, res, conv1_filter)
        if res == resolution or architecture == "skip":
            total += _dense(w_dim, out_channels) + img_channels * out_channels + img_channels  # torgb
        if in_channels and architecture == "resnet":
            total += block_filter + out_channels * in_channels  # skip, no bias
    return total


# building -------------------------------------------------------------------------------------------------


def build_generator(config: dict) -> Generator:
    """Generator(**config) for a checked config whose weights the file holds; what a constructor still refuses
    (a cutoff above the Nyquist rate, say) becomes ContentError."""
    try:
        return Generator(**config)
    except (
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        ZeroDivisionError,
        OverflowError,
        FloatingPointError,
    ) as error:
        raise ContentError(
            f"the layout cannot be built ({type(error).__name__}: {escape(str(error), 200)})"
        ) from None


def load_weights(G: Generator, state: dict[str, torch.Tensor]) -> None:
    """Copy `state` into G; names and shapes must match exactly, and a mismatch says which (quoted)."""
    expected = G.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    wrong = [
        key for key in expected if key in state and tuple(state[key].shape) != tuple(expected[key].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing {_some(missing)}")
    if unexpected:
        problems.append(f"unexpected {_some(unexpected)}")
    if wrong:
        shapes = ", ".join(
            f"{escape(key, 60)} is {list(state[key].shape)}, not {list(expected[key].shape)}"
            for key in wrong[:3]
        )
        problems.append(shapes + (f" and {len(wrong) - 3} more" if len(wrong) > 3 else ""))
    if problems:
        raise ContentError("; ".join(problems))
    try:
        G.load_state_dict(state, strict=True)
    except RuntimeError as error:  # names and shapes match, so only a value that cannot be copied gets here
        raise ContentError(f"the weights cannot be copied ({escape(str(error), 200)})") from None


def _some(keys: list[str]) -> str:
    shown = ", ".join(escape(key, 60) for key in keys[:3])
    return shown + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
