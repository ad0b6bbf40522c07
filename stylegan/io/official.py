"""Official network pickles (StyleGAN-XL, StyleGAN3, StyleGAN2-ADA) -> our Generator.

The pickle is read by the restricted reader in `official_pickle`, which returns inert records of the pickled
modules (class name, constructor kwargs, attributes, parameters, buffers). This module reads the layout from
those records into a plain config, checks it (`stylegan.io.config`) and compares the weights it implies with
the weights the file holds, and only then builds our modules and loads the pickled weights into them with no
renaming. No code from the file runs at any point, and every value read from a record is type-checked first:
records are whatever the file says they are.
"""

from __future__ import annotations

import inspect
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylegan.errors import StyleGANError
from stylegan.io.config import build_generator, check_config, load_weights, state_numel
from stylegan.io.official_pickle import InertObject, PersistentObject, read_network_pickle
from stylegan.io.untrusted import ContentError, describe, escape, excerpt
from stylegan.networks.generator import Generator
from stylegan.networks.specs import LayerSpec, filter_padding, resampling_factors
from stylegan.networks.stylegan2 import StyleGAN2Synthesis

Record = PersistentObject | InertObject
_LAYOUT_KEYS = ("channel_base", "channel_max", "margin_size", "last_stopband_rel", "num_fp16_res")
MAX_MODULE_DEPTH = 32  # of the module tree under the generator (official generators: 4)
MAX_MODULES = 20_000  # modules under the generator (StyleGAN-XL at 1024: about 170)
_MISSING = object()
_NAME = re.compile(
    r"[A-Za-z0-9_]{1,64}"
)  # of a module or tensor: they are joined with dots into state-dict keys


def load_official_pickle(path: str | Path) -> Generator:
    """Build our Generator from the G_ema (or G) of an official network pickle."""
    G, problem = _load(Path(path))
    if problem:
        raise StyleGANError(problem)
    return G


def _load(path: Path) -> tuple[Generator | None, str | None]:
    """The generator, or a message; the records stay in this frame, so that a kept exception cannot keep them."""
    shown = escape(str(path), 300)
    snapshot = read_network_pickle(path)
    net = snapshot.get("G_ema", snapshot.get("G"))
    if not isinstance(net, PersistentObject):
        keys = ", ".join(
            escape(key, 40) if type(key) is str else excerpt(key, 40) for key in list(snapshot)[:8]
        )
        return None, f"{shown}: no generator (G_ema or G) in this pickle; it holds {keys or 'nothing'}"
    try:
        config, paddings = _generator_config(net)
        config = check_config(config)
        for spec, padding in zip(config["synthesis_kwargs"].get("layers", ()), paddings, strict=False):
            _check_padding(LayerSpec(**spec), padding)
    except ContentError as error:
        return None, (
            f"{shown}: unsupported generator {excerpt(net.class_name, 60)} ({error}); "
            "supported are StyleGAN-XL, StyleGAN3-T/-R and StyleGAN2(-ADA) generators"
        )
    try:
        state = collect_state_dict(net)
        expected, held = state_numel(config), sum(tensor.numel() for tensor in state.values())
        if expected != held:
            raise ContentError(f"the layout has {expected:,} weights, the file {held:,}")
        G = build_generator(config)
        load_weights(G, state)
    except ContentError as error:
        architecture = config.get("architecture", "stylegan-xl")
        return (
            None,
            f"{shown}: the pickled weights do not fit the {architecture} layout read from the file ({error})",
        )
    G.metadata = {
        "source": path.name,
        "source_format": "official network pickle",
        "official_class": net.class_name[:200],
    }
    return G.eval().requires_grad_(False), None


# typed access to records ----------------------------------------------------------------------------------


def _number(value: Any, where: str) -> int | float | bool:
    """A Python number from a pickled int / float / bool / numpy scalar / small numpy array of equal values
    (the official code keeps sizes as pairs)."""
    if isinstance(value, np.ndarray):
        if value.ndim > 1 or not 1 <= value.size <= 4 or value.dtype.kind not in "biuf":
            raise ContentError(f"{where} is {describe(value)}, not a number")
        items = value.tolist()
        if any(item != items[0] for item in items):
            raise ContentError(f"{where} = {excerpt(items)}: only square layouts are supported")
        value = items[0]
    elif isinstance(value, np.generic):
        if value.dtype.kind not in "biuf":
            raise ContentError(f"{where} is {describe(value)}, not a number")
        value = value.item()
    if type(value) not in (int, float, bool):
        raise ContentError(f"{where} is {excerpt(value)}, not a number")
    return value


def _integer(value: Any, where: str) -> int:
    number = _number(value, where)
    if type(number) is float:
        if not number.is_integer():
            raise ContentError(f"{where} = {excerpt(number)} is not a whole number")
        number = int(number)
    return int(number)


def _float(value: Any, where: str) -> float:
    number = _number(value, where)
    if abs(number) > 1e300 or not math.isfinite(number):
        raise ContentError(f"{where} = {excerpt(number)} is out of range")
    return float(number)


def _boolean(value: Any, where: str) -> bool:
    number = _number(value, where)
    if number not in (0, 1):
        raise ContentError(f"{where} = {excerpt(number)} is not a truth value")
    return bool(number)


def _plain(value: Any, where: str) -> Any:
    """A constructor option as plain data: None, a truth value, a number, a short string or a list of numbers."""
    if value is None or type(value) is bool:
        return value
    if type(value) is str:
        if len(value) > 64:
            raise ContentError(f"{where} is a string of {len(value):,} characters")
        return value
    if type(value) in (list, tuple):
        if len(value) > 16:
            raise ContentError(f"{where} is a list of {len(value):,} items")
        return [_number(item, f"{where}[{index}]") for index, item in enumerate(value)]
    return _number(value, where)


class _Node:
    """One pickled module: its state, read value by value, with messages that say where a value is."""

    def __init__(self, record: Any, where: str):
        state = record.state if isinstance(record, (PersistentObject, InertObject)) else None
        if type(state) is not dict:
            raise ContentError(f"{where} is {describe(record)}, not a module with a state")
        self.record, self.state, self.where = record, state, where

    def modules(self) -> dict:
        modules = self.state.get("_modules", {})
        if not isinstance(modules, dict):
            raise ContentError(f"{self.where}._modules is {describe(modules)}, not a dict")
        return modules

    def child(self, name: str) -> _Node | None:
        child = self.modules().get(name)
        return None if child is None else _Node(child, f"{self.where}.{escape(name, 40)}")

    def value(self, name: str, default: Any = _MISSING) -> Any:
        if name in self.state:
            return self.state[name]
        if default is _MISSING:
            raise ContentError(f"{self.where} has no attribute {name}")
        return default

    def option(self, name: str, default: Any = None) -> Any:
        """A constructor option: the attribute if present, else the recorded constructor kwarg, else default."""
        if name in self.state:
            return self.state[name]
        kwargs = self.state.get("_init_kwargs")
        if isinstance(kwargs, dict) and name in kwargs:
            return kwargs[name]
        return default

    def integer(self, name: str, default: Any = _MISSING) -> int:
        return _integer(self.value(name, default), f"{self.where}.{name}")

    def float(self, name: str, default: Any = _MISSING) -> float:
        return _float(self.value(name, default), f"{self.where}.{name}")

    def boolean(self, name: str, default: Any = _MISSING) -> bool:
        return _boolean(self.value(name, default), f"{self.where}.{name}")

    def names(self, name: str) -> list[str] | None:
        value = self.value(name, None)
        if value is None:
            return None
        if type(value) not in (list, tuple) or len(value) > 1024 or not all(type(v) is str for v in value):
            raise ContentError(f"{self.where}.{name} is {excerpt(value)}, not a list of names")
        return list(value)

    def weight_shape(self) -> tuple[int, ...]:
        parameters = self.state.get("_parameters", {})
        weight = parameters.get("weight") if isinstance(parameters, dict) else None
        if not isinstance(weight, torch.Tensor):
            raise ContentError(f"{self.where} has no weight tensor")
        return tuple(weight.shape)


def collect_state_dict(record: Record, prefix: str = "") -> dict[str, torch.Tensor]:
    """Parameters and persistent buffers of a pickled module tree, keyed as `Module.state_dict()` keys them.

    The walk is iterative and bounded (MAX_MODULE_DEPTH levels, MAX_MODULES modules), so that a pickled chain
    or shared-reference DAG of modules can make it neither recurse nor run for long.
    """
    tensors = {}
    pending = [(record, prefix, 0)]
    visited = 0
    while pending:
        node_record, node_prefix, depth = pending.pop()
        visited += 1
        if visited > MAX_MODULES:
            raise ContentError(f"the generator holds more than {MAX_MODULES:,} modules")
        node = _Node(node_record, node_prefix.rstrip(".") or "the generator")
        non_persistent = node.state.get("_non_persistent_buffers_set", ())
        if type(non_persistent) not in (set, frozenset, list, tuple) or not all(
            type(n) is str for n in non_persistent
        ):
            raise ContentError(f"{node.where}._non_persistent_buffers_set is not a set of names")
        for kind in ("_parameters", "_buffers"):
            entries = node.state.get(kind, {})
            if not isinstance(entries, dict):
                raise ContentError(f"{node.where}.{kind} is {describe(entries)}, not a dict")
            for name, value in entries.items():
                if type(name) is not str or not _NAME.fullmatch(name):
                    raise ContentError(f"{node.where} holds a tensor named {excerpt(name)}")
                if value is None or (kind == "_buffers" and name in non_persistent):
                    continue
                if not isinstance(value, torch.Tensor):
                    raise ContentError(f"{node_prefix}{name} is {describe(value)}, not a tensor")
                tensors[node_prefix + name] = value
        children = node.modules()
        if children and depth >= MAX_MODULE_DEPTH:
            raise ContentError(f"its modules nest more than {MAX_MODULE_DEPTH} levels deep")
        for name, child in children.items():
            if type(name) is not str or not _NAME.fullmatch(name):
                raise ContentError(f"{node.where} holds a module named {excerpt(name)}")
            if child is not None:
                pending.append((child, f"{node_prefix}{name}.", depth + 1))
    return tensors


# the layout -----------------------------------------------------------------------------------------------


def _generator_config(net: PersistentObject) -> tuple[dict, list[dict]]:
    """The Generator config the records describe (plain data, not yet checked), and the pickled resampling of
    each alias-free layer, to compare with ours once the config has been checked."""
    G = _Node(net, "the generator")
    mapping, synthesis = G.child("mapping"), G.child("synthesis")
    if mapping is None or synthesis is None:
        raise ContentError("the generator has no mapping or synthesis network")
    children = synthesis.modules()
    paddings: list[dict] = []
    if "input" in children:
        embed = mapping.modules().get("embed")
        is_xl = mapping.child("embed_proj") is not None or isinstance(embed, InertObject)
        architecture = "stylegan-xl" if is_xl else "stylegan3"
        synthesis_kwargs, paddings = _alias_free_kwargs(G, synthesis)
    elif "b4" in children:
        architecture = "stylegan2"
        synthesis_kwargs = _stylegan2_kwargs(synthesis)
    else:
        raise ContentError(f"unknown synthesis network {describe(synthesis.record)}")
    config = dict(
        z_dim=G.integer("z_dim"),
        c_dim=G.integer("c_dim"),
        w_dim=G.integer("w_dim"),
        img_resolution=G.integer("img_resolution"),
        img_channels=G.integer("img_channels"),
        architecture=architecture,
        mapping_kwargs=_mapping_kwargs(mapping, architecture),
        synthesis_kwargs=synthesis_kwargs,
    )
    return config, paddings


def _mapping_kwargs(mapping: _Node, architecture: str) -> dict:
    num_layers = mapping.integer("num_layers")
    fc0 = mapping.child("fc0")
    if fc0 is None:
        raise ContentError("the mapping network has no fc0 layer")
    kwargs = dict(
        num_layers=num_layers,
        lr_multiplier=fc0.float("bias_gain"),
        w_avg_beta=mapping.float("w_avg_beta", 0.998),
    )
    embed = mapping.child("embed")
    if architecture == "stylegan-xl":
        parameters = embed.state.get("_parameters", {}) if embed is not None else {}
        table = parameters.get("weight") if isinstance(parameters, dict) else None
        if table is not None and (not isinstance(table, torch.Tensor) or table.ndim != 2):
            raise ContentError(f"the class table is {describe(table)}")
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


def _out_features(layer: _Node) -> int:
    """Width of a fully connected layer, from its weight (StyleGAN2-ADA does not keep it as an attribute)."""
    shape = layer.weight_shape()
    if not shape:
        raise ContentError(f"{layer.where}.weight has no dimensions")
    return int(shape[0])


def _alias_free_kwargs(G: _Node, synthesis: _Node) -> tuple[dict, list[dict]]:
    input_node = synthesis.child("input")
    if input_node is None:
        raise ContentError("the synthesis network's input is missing")
    layer_names = synthesis.names("layer_names") or []
    layers, paddings = [], []
    for name in layer_names:
        layer = synthesis.child(name)
        if layer is None:
            raise ContentError(f"layer {excerpt(name)} is listed but missing")
        spec, padding = _layer_spec(name, layer)
        layers.append(spec)
        paddings.append(padding)
    head = G.names("head_layer_names")
    layout = {}
    for key in _LAYOUT_KEYS:
        value = synthesis.option(key, G.value(key, None))
        if value is not None:
            layout[key] = _number(value, f"{synthesis.where}.{key}")
    kwargs = dict(
        input=dict(
            channels=input_node.integer("channels"),
            size=input_node.integer("size"),
            sampling_rate=input_node.float("sampling_rate"),
            bandwidth=input_node.float("bandwidth"),
        ),
        layers=layers,
        output_scale=_float(synthesis.option("output_scale", 0.25), f"{synthesis.where}.output_scale"),
        stem_layers=len(layers) - len(head) if head else 0,
        layout=layout,
    )
    return kwargs, paddings


def _layer_spec(name: str, layer: _Node) -> tuple[dict, dict]:
    is_torgb = layer.boolean("is_torgb")
    in_rate, out_rate = layer.integer("in_sampling_rate"), layer.integer("out_sampling_rate")
    lrelu_upsampling = layer.option("lrelu_upsampling")
    if lrelu_upsampling is None:  # StyleGAN3 keeps only the rate the nonlinearity runs at
        if is_torgb:
            lrelu_upsampling = 2
        elif min(in_rate, out_rate) <= 0:
            raise ContentError(f"{layer.where}: sampling rates {in_rate} -> {out_rate}")
        else:
            lrelu_upsampling = layer.integer("tmp_sampling_rate") // max(in_rate, out_rate)
    conv_clamp = layer.value("conv_clamp", None)

    def option(key: str, default: Any) -> Any:
        return layer.option(key, default)

    spec = dict(
        name=name,
        in_channels=layer.integer("in_channels"),
        out_channels=layer.integer("out_channels"),
        in_size=layer.integer("in_size"),
        out_size=layer.integer("out_size"),
        in_sampling_rate=in_rate,
        out_sampling_rate=out_rate,
        in_cutoff=layer.float("in_cutoff"),
        out_cutoff=layer.float("out_cutoff"),
        in_half_width=layer.float("in_half_width"),
        out_half_width=layer.float("out_half_width"),
        is_torgb=is_torgb,
        is_critically_sampled=layer.boolean("is_critically_sampled"),
        use_fp16=layer.boolean("use_fp16"),
        conv_kernel=_integer(option("conv_kernel", layer.value("conv_kernel")), f"{layer.where}.conv_kernel"),
        conv_clamp=None if conv_clamp is None else _float(conv_clamp, f"{layer.where}.conv_clamp"),
        use_radial_filters=_boolean(option("use_radial_filters", False), f"{layer.where}.use_radial_filters"),
        filter_size=_integer(option("filter_size", 6), f"{layer.where}.filter_size"),
        lrelu_upsampling=_integer(lrelu_upsampling, f"{layer.where}.lrelu_upsampling"),
        magnitude_ema_beta=_float(option("magnitude_ema_beta", 0.999), f"{layer.where}.magnitude_ema_beta"),
    )
    pickled = layer.value("padding", None)
    if pickled is not None and (type(pickled) not in (list, tuple) or len(pickled) != 4):
        raise ContentError(f"{layer.where}.padding is {excerpt(pickled)}")
    padding = dict(
        where=layer.where,
        padding=None if pickled is None else [_integer(p, f"{layer.where}.padding") for p in pickled],
        up_taps=layer.integer("up_taps", 1),
        down_taps=layer.integer("down_taps", 1),
        up_factor=layer.value("up_factor", None),
        down_factor=layer.value("down_factor", None),
    )
    return spec, padding


def _check_padding(spec: LayerSpec, pickled: dict) -> None:
    """Our filter arithmetic must land on the pickled padding; a mismatch means a variant we do not know."""
    up, down = resampling_factors(spec)
    expected = filter_padding(spec, up, down, pickled["up_taps"], pickled["down_taps"])
    where = pickled["where"]
    factors = tuple(
        default if value is None else _integer(value, f"{where}.{key}")
        for key, value, default in (
            ("up_factor", pickled["up_factor"], up),
            ("down_factor", pickled["down_factor"], down),
        )
    )
    padding = expected if pickled["padding"] is None else pickled["padding"]
    if padding != expected or factors != (up, down):
        raise ContentError(f"layer {spec.name}: resampling {padding} differs from the layout's {expected}")


def _stylegan2_kwargs(synthesis: _Node) -> dict:
    recorded = synthesis.value("_init_kwargs", None) or {}
    if not isinstance(recorded, dict):
        raise ContentError(f"{synthesis.where}._init_kwargs is {describe(recorded)}")
    accepted = inspect.signature(StyleGAN2Synthesis.__init__).parameters
    kwargs = {}
    for key, value in recorded.items():
        if key in ("w_dim", "img_resolution", "img_channels"):
            continue
        if type(key) is not str or key not in accepted:
            raise ContentError(f"StyleGAN2 synthesis option {excerpt(key)}={excerpt(value)} is not supported")
        kwargs[key] = _plain(value, f"{synthesis.where}.{key}")
    # The two official versions default differently (stylegan3 repo: clamp 256, fp16 on 4 resolutions;
    # ADA: no clamp, no fp16) and train.py records neither unless changed: read what the blocks really use.
    first = synthesis.child("b4")
    conv1 = first.child("conv1") if first is not None else None
    if conv1 is None:
        raise ContentError("the StyleGAN2 synthesis network has no b4.conv1 layer")
    kwargs.setdefault("conv_clamp", _plain(conv1.value("conv_clamp", None), f"{conv1.where}.conv_clamp"))
    if "num_fp16_res" not in kwargs:
        blocks = [name for name in synthesis.modules() if type(name) is str and name.startswith("b")]
        kwargs["num_fp16_res"] = sum(
            _Node(synthesis.modules()[name], escape(name, 40)).boolean("use_fp16", False) for name in blocks
        )
    return kwargs
