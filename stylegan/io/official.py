"""Official network pickles (StyleGAN-XL, StyleGAN3, StyleGAN2-ADA) -> our Generator.

The pickle is read by the restricted reader in `official_pickle`, which returns inert records of the pickled
modules (class name, constructor kwargs, attributes, parameters, buffers). This module reads the layout from
those records, builds our modules and loads the pickled weights into them with no renaming. No code from the
file runs at any point.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import torch

from stylegan.errors import StyleGANError
from stylegan.io.official_pickle import InertObject, PersistentObject, read_network_pickle
from stylegan.networks.generator import Generator
from stylegan.networks.specs import LayerSpec, filter_padding, resampling_factors
from stylegan.networks.stylegan2 import StyleGAN2Synthesis

Record = PersistentObject | InertObject
_LAYOUT_KEYS = ("channel_base", "channel_max", "margin_size", "last_stopband_rel", "num_fp16_res")


def load_official_pickle(path: str | Path) -> Generator:
    """Build our Generator from the G_ema (or G) of an official network pickle."""
    path = Path(path)
    snapshot = read_network_pickle(path)
    net = snapshot.get("G_ema", snapshot.get("G"))
    if not isinstance(net, PersistentObject):
        keys = ", ".join(map(str, snapshot)) or "nothing"
        raise StyleGANError(f"{path}: no generator (G_ema or G) in this pickle; it holds {keys}")
    try:
        G = _build_generator(net)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise StyleGANError(
            f"{path}: unsupported generator {net.class_name!r} ({type(error).__name__}: {error}); "
            "supported are StyleGAN-XL, StyleGAN3-T/-R and StyleGAN2(-ADA) generators"
        ) from None
    state = collect_state_dict(net)
    try:
        G.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise StyleGANError(
            f"{path}: the pickled weights do not fit the {G.architecture} layout read from the file ({error})"
        ) from None
    G.metadata = {
        "source": path.name,
        "source_format": "official network pickle",
        "official_class": net.class_name,
    }
    return G.eval().requires_grad_(False)


def collect_state_dict(record: Record, prefix: str = "") -> dict[str, torch.Tensor]:
    """Parameters and persistent buffers of a pickled module tree, keyed as `Module.state_dict()` keys them."""
    state = _state(record)
    non_persistent = set(state.get("_non_persistent_buffers_set", ()))
    tensors = {}
    for name, value in state.get("_parameters", {}).items():
        if value is not None:
            tensors[prefix + name] = value
    for name, value in state.get("_buffers", {}).items():
        if value is not None and name not in non_persistent:
            tensors[prefix + name] = value
    for name, child in state.get("_modules", {}).items():
        if child is not None:
            tensors.update(collect_state_dict(child, f"{prefix}{name}."))
    return tensors


def _state(record: Record) -> dict:
    state = record.state if isinstance(record, (PersistentObject, InertObject)) else None
    if not isinstance(state, dict):
        raise TypeError(f"a pickled module without state: {record!r}")
    return state


def _child(record: Record, name: str) -> Record | None:
    return _state(record).get("_modules", {}).get(name)


def _option(record: Record, name: str, default=None):
    """A constructor option: the pickled attribute if present, else the recorded constructor kwarg, else default."""
    state = _state(record)
    if name in state:
        return state[name]
    return dict(state.get("_init_kwargs") or {}).get(name, default)


def _scalar(value) -> int | float | bool | None:
    """Python number from a pickled int / float / numpy scalar / numpy size pair."""
    if value is None:
        return None
    array = np.asarray(value)
    item = array.reshape(-1)[0].item()
    return item


def _build_generator(net: PersistentObject) -> Generator:
    mapping, synthesis = _child(net, "mapping"), _child(net, "synthesis")
    if mapping is None or synthesis is None:
        raise KeyError("the generator has no mapping or synthesis network")
    synthesis_children = _state(synthesis).get("_modules", {})
    if "input" in synthesis_children:
        is_xl = _child(mapping, "embed_proj") is not None or isinstance(_child(mapping, "embed"), InertObject)
        architecture = "stylegan-xl" if is_xl else "stylegan3"
        synthesis_kwargs = _alias_free_kwargs(net, synthesis)
    elif "b4" in synthesis_children:
        architecture = "stylegan2"
        synthesis_kwargs = _stylegan2_kwargs(synthesis)
    else:
        raise ValueError(f"unknown synthesis network {synthesis.class_name!r}")
    state = _state(net)
    return Generator(
        z_dim=int(state["z_dim"]),
        c_dim=int(state["c_dim"]),
        w_dim=int(state["w_dim"]),
        img_resolution=int(state["img_resolution"]),
        img_channels=int(state["img_channels"]),
        architecture=architecture,
        mapping_kwargs=_mapping_kwargs(mapping, architecture),
        synthesis_kwargs=synthesis_kwargs,
    )


def _mapping_kwargs(mapping: Record, architecture: str) -> dict:
    state = _state(mapping)
    num_layers = int(state["num_layers"])
    fc0 = _child(mapping, "fc0")
    kwargs = dict(
        num_layers=num_layers,
        lr_multiplier=float(_state(fc0)["bias_gain"]),
        w_avg_beta=float(state.get("w_avg_beta", 0.998)),
    )
    embed = _child(mapping, "embed")
    if architecture == "stylegan-xl":
        table = _state(embed)["_parameters"]["weight"] if embed is not None else None
        kwargs.update(class_embedding="table", embed_classes=0 if table is None else int(table.shape[0]))
        if table is not None:
            kwargs["embed_dim"] = int(table.shape[1])
        return kwargs
    kwargs["class_embedding"] = "linear"
    if embed is not None:
        kwargs["embed_features"] = _out_features(embed)
    if num_layers > 1:
        kwargs["layer_features"] = _out_features(fc0)
    return kwargs


def _out_features(layer: Record) -> int:
    """Width of a fully connected layer, from its weight (StyleGAN2-ADA does not keep it as an attribute)."""
    return int(_state(layer)["_parameters"]["weight"].shape[0])


def _alias_free_kwargs(net: Record, synthesis: Record) -> dict:
    input_state = _state(_child(synthesis, "input"))
    layers = []
    for name in _state(synthesis)["layer_names"]:
        layer = _child(synthesis, name)
        if layer is None:
            raise KeyError(f"layer {name} is listed but missing")
        layers.append(_layer_spec(name, layer))
    head = _state(net).get("head_layer_names")
    layout = {}
    for key in _LAYOUT_KEYS:
        value = _option(synthesis, key, _state(net).get(key))
        if value is not None:
            layout[key] = _scalar(value)
    return dict(
        input=dict(
            channels=int(input_state["channels"]),
            size=int(_scalar(input_state["size"])),
            sampling_rate=float(input_state["sampling_rate"]),
            bandwidth=float(input_state["bandwidth"]),
        ),
        layers=[spec.to_dict() for spec in layers],
        output_scale=float(_option(synthesis, "output_scale", 0.25)),
        stem_layers=len(layers) - len(head) if head else 0,
        layout=layout,
    )


def _layer_spec(name: str, layer: Record) -> LayerSpec:
    state = _state(layer)
    is_torgb = bool(state["is_torgb"])
    in_rate, out_rate = int(_scalar(state["in_sampling_rate"])), int(_scalar(state["out_sampling_rate"]))
    lrelu_upsampling = _option(layer, "lrelu_upsampling")
    if lrelu_upsampling is None:  # StyleGAN3 keeps only the rate the nonlinearity runs at
        lrelu_upsampling = (
            2 if is_torgb else int(_scalar(state["tmp_sampling_rate"])) // max(in_rate, out_rate)
        )
    conv_clamp = _scalar(state.get("conv_clamp"))
    spec = LayerSpec(
        name=name,
        in_channels=int(state["in_channels"]),
        out_channels=int(state["out_channels"]),
        in_size=int(_scalar(state["in_size"])),
        out_size=int(_scalar(state["out_size"])),
        in_sampling_rate=in_rate,
        out_sampling_rate=out_rate,
        in_cutoff=float(_scalar(state["in_cutoff"])),
        out_cutoff=float(_scalar(state["out_cutoff"])),
        in_half_width=float(_scalar(state["in_half_width"])),
        out_half_width=float(_scalar(state["out_half_width"])),
        is_torgb=is_torgb,
        is_critically_sampled=bool(state["is_critically_sampled"]),
        use_fp16=bool(state["use_fp16"]),
        conv_kernel=int(_option(layer, "conv_kernel", state["conv_kernel"])),
        conv_clamp=None if conv_clamp is None else float(conv_clamp),
        use_radial_filters=bool(_option(layer, "use_radial_filters", False)),
        filter_size=int(_option(layer, "filter_size", 6)),
        lrelu_upsampling=int(lrelu_upsampling),
        magnitude_ema_beta=float(_option(layer, "magnitude_ema_beta", 0.999)),
    )
    _check_padding(spec, state)
    return spec


def _check_padding(spec: LayerSpec, state: dict) -> None:
    """Our filter arithmetic must land on the pickled padding; a mismatch means a variant we do not know."""
    up, down = resampling_factors(spec)
    up_taps, down_taps = int(state.get("up_taps", 1)), int(state.get("down_taps", 1))
    expected = filter_padding(spec, up, down, up_taps, down_taps)
    pickled = [int(p) for p in state.get("padding", expected)]
    if pickled != expected or (up, down) != (
        int(state.get("up_factor", up)),
        int(state.get("down_factor", down)),
    ):
        raise ValueError(f"layer {spec.name}: resampling {pickled} differs from the layout's {expected}")


def _stylegan2_kwargs(synthesis: Record) -> dict:
    state = _state(synthesis)
    recorded = dict(state.get("_init_kwargs") or {})
    accepted = inspect.signature(StyleGAN2Synthesis.__init__).parameters
    kwargs = {}
    for key, value in recorded.items():
        if key in ("w_dim", "img_resolution", "img_channels"):
            continue
        if key not in accepted:
            raise ValueError(f"StyleGAN2 synthesis option {key}={value!r} is not supported")
        kwargs[key] = list(value) if isinstance(value, tuple) else value
    # The two official versions default differently (stylegan3 repo: clamp 256, fp16 on 4 resolutions;
    # ADA: no clamp, no fp16) and train.py records neither unless changed: read what the blocks really use.
    first = _child(_child(synthesis, "b4"), "conv1")
    kwargs.setdefault("conv_clamp", _state(first).get("conv_clamp"))
    if "num_fp16_res" not in kwargs:
        blocks = [name for name in _state(synthesis).get("_modules", {}) if name.startswith("b")]
        kwargs["num_fp16_res"] = sum(bool(_state(_child(synthesis, name)).get("use_fp16")) for name in blocks)
    return kwargs
