"""Write network pickles in the layout of the official StyleGAN training code, without the official code.

Each network object becomes a call of `torch_utils.persistence._reconstruct_persistent_obj(meta)` whose meta
holds the module source and the object's `__dict__`, with the attribute names and types (numpy sizes and
rates) of the official classes. A fake `torch_utils.persistence` module exists only while pickling, so the
reader under test cannot import it. The embedded source creates `marker` if anyone ever executes it.
"""

from __future__ import annotations

import contextlib
import functools
import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from stylegan.networks.alias_free import SynthesisInput, SynthesisLayer, SynthesisNetwork
from stylegan.networks.generator import Generator
from stylegan.networks.layers import FullyConnectedLayer
from stylegan.networks.mapping import MappingNetwork


class Persistent:
    """Pickles as the official persistent-class reconstruction call."""

    def __init__(self, class_name: str, state: dict, module_src: str):
        self.meta = dict(type="class", version=6, module_src=module_src, class_name=class_name, state=state)

    def __reduce__(self):
        reconstruct = sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj
        return reconstruct, (self.meta,)


@contextlib.contextmanager
def fake_persistence_module():
    package = types.ModuleType("torch_utils")
    module = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # never called by the reader under test
        raise AssertionError("the fake reconstruction function must not run")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj
    package.persistence = module
    with temporary_modules({"torch_utils": package, "torch_utils.persistence": module}):
        yield


@contextlib.contextmanager
def temporary_modules(modules: dict):
    """Install `modules` in sys.modules for the duration, then restore whatever was there before."""
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield modules
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


def _module_state(module: torch.nn.Module, children: dict) -> dict:
    """The torch.nn.Module part of an official object's __dict__."""
    return dict(
        training=False,
        _parameters=OrderedDict((k, v) for k, v in module._parameters.items()),
        _buffers=OrderedDict((k, v) for k, v in module._buffers.items()),
        _non_persistent_buffers_set=set(),
        _modules=OrderedDict(children),
        _forward_hooks=OrderedDict(),
        _forward_pre_hooks=OrderedDict(),
    )


class _Writer:
    def __init__(self, module_src: str, G: Generator):
        self.module_src = module_src
        self.synthesis = G.synthesis
        self.synthesis_kwargs = dict(
            w_dim=G.w_dim,
            img_resolution=G.img_resolution,
            img_channels=G.img_channels,
            **G.config["synthesis_kwargs"],
        )
        # StyleGAN3 keeps fewer layer attributes than StyleGAN-XL; the reader must cope with both.
        self.stylegan3_attributes = G.architecture == "stylegan3"

    def persistent(
        self, class_name: str, module: torch.nn.Module, children: dict, **attributes
    ) -> Persistent:
        state = _module_state(module, children)
        state.update(attributes)
        return Persistent(class_name, state, self.module_src)

    def convert(self, module: torch.nn.Module):
        if isinstance(module, torch.nn.Embedding):
            return module  # non-persistent: pickled the ordinary way, as in StyleGAN-XL files
        children = {name: self.convert(child) for name, child in module._modules.items() if child is not None}
        if isinstance(module, FullyConnectedLayer):
            return self.persistent(
                "FullyConnectedLayer",
                module,
                children,
                in_features=module.in_features,
                out_features=module.out_features,
                activation=module.activation,
                weight_gain=np.float64(module.weight_gain),
                bias_gain=module.bias_gain,
                _init_args=(module.in_features, module.out_features),
                _init_kwargs=dict(activation=module.activation),
            )
        if isinstance(module, MappingNetwork):
            return self.persistent(
                "MappingNetwork",
                module,
                children,
                z_dim=module.z_dim,
                c_dim=module.c_dim,
                w_dim=module.w_dim,
                num_ws=module.num_ws,
                num_layers=module.num_layers,
                w_avg_beta=module.w_avg_beta,
                _init_args=(),
                _init_kwargs=dict(z_dim=module.z_dim, c_dim=module.c_dim, w_dim=module.w_dim),
            )
        if isinstance(module, SynthesisInput):
            return self.persistent(
                "SynthesisInput",
                module,
                children,
                w_dim=module.w_dim,
                channels=module.channels,
                size=np.broadcast_to(np.asarray(module.size), [2]),
                sampling_rate=np.float64(module.sampling_rate),
                bandwidth=np.float64(module.bandwidth),
                _init_args=(),
                _init_kwargs={},
            )
        if isinstance(module, SynthesisLayer):
            return self._layer(module, children)
        if isinstance(module, SynthesisNetwork):
            return self.persistent(
                "SynthesisNetwork",
                module,
                children,
                w_dim=module.w_dim,
                num_ws=module.num_ws,
                img_resolution=module.img_resolution,
                img_channels=module.img_channels,
                output_scale=module.output_scale,
                layer_names=list(module.layer_names),
                **{key: value for key, value in module.layout.items()},
                _init_args=(),
                _init_kwargs={},
            )
        # StyleGAN2 synthesis and its blocks: the importer reads the constructor kwargs and the tensors.
        kwargs = self.synthesis_kwargs if module is self.synthesis else {}
        return self.persistent(type(module).__name__, module, children, _init_args=(), _init_kwargs=kwargs)

    def _layer(self, layer: SynthesisLayer, children: dict) -> Persistent:
        spec = layer.spec
        up_taps = 1 if layer.up_filter is None else layer.up_filter.shape[0]
        down_taps = 1 if layer.down_filter is None else layer.down_filter.shape[0]
        attributes = dict(
            w_dim=layer.w_dim,
            is_torgb=spec.is_torgb,
            is_critically_sampled=spec.is_critically_sampled,
            use_fp16=spec.use_fp16,
            in_channels=spec.in_channels,
            out_channels=spec.out_channels,
            in_size=np.broadcast_to(np.asarray(spec.in_size), [2]),
            out_size=np.broadcast_to(np.asarray(spec.out_size), [2]),
            in_sampling_rate=spec.in_sampling_rate,
            out_sampling_rate=spec.out_sampling_rate,
            tmp_sampling_rate=spec.tmp_sampling_rate,
            in_cutoff=np.float64(spec.in_cutoff),
            out_cutoff=np.float64(spec.out_cutoff),
            in_half_width=np.float64(spec.in_half_width),
            out_half_width=np.float64(spec.out_half_width),
            conv_kernel=layer.conv_kernel,
            conv_clamp=spec.conv_clamp,
            magnitude_ema_beta=spec.magnitude_ema_beta,
            up_factor=layer.up_factor,
            down_factor=layer.down_factor,
            up_taps=up_taps,
            down_taps=down_taps,
            down_radial=spec.use_radial_filters and not spec.is_critically_sampled,
            padding=list(layer.padding),
            _init_args=(),
            _init_kwargs=dict(conv_kernel=spec.conv_kernel, use_radial_filters=spec.use_radial_filters),
        )
        if not self.stylegan3_attributes:
            attributes.update(
                filter_size=spec.filter_size,
                use_radial_filters=spec.use_radial_filters,
                lrelu_upsampling=spec.lrelu_upsampling,
            )
        return self.persistent("SynthesisLayer", layer, children, **attributes)


def write_official_pickle(G: Generator, path: Path, marker: Path, superres: bool = False) -> Path:
    """Pickle G as an official snapshot dict {G, D, G_ema, augment_pipe, training_set_kwargs, progress}."""
    module_src = f"open({str(marker)!r}, 'w').write('the pickled source ran')\n"
    writer = _Writer(module_src, G)
    children = {"synthesis": writer.convert(G.synthesis), "mapping": writer.convert(G.mapping)}
    attributes = dict(
        z_dim=G.z_dim,
        c_dim=G.c_dim,
        w_dim=G.w_dim,
        img_resolution=G.img_resolution,
        img_channels=G.img_channels,
        num_ws=G.num_ws,
        _init_args=(),
        _init_kwargs=dict(z_dim=G.z_dim, c_dim=G.c_dim),
    )
    class_name = "Generator"
    if superres:
        class_name = "SuperresGenerator"
        attributes["head_layer_names"] = list(G.synthesis.head_layer_names)
    net = writer.persistent(class_name, G, children, **attributes)
    # A Projected-GAN-like discriminator: ordinary (non-persistent) modules and a partial of a torch function.
    features = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.GELU())
    discriminator = writer.persistent(
        "ProjectedDiscriminator",
        torch.nn.Linear(3, 1),
        {"feature_network": features},
        activation=functools.partial(torch.nn.functional.leaky_relu, negative_slope=0.2),
    )
    snapshot = dict(
        G=net,
        D=discriminator,
        G_ema=net,
        augment_pipe=None,
        training_set_kwargs=dict(resolution=G.img_resolution, use_labels=G.c_dim > 0),
        progress=dict(cur_nimg=torch.tensor(1000)),
    )
    with fake_persistence_module(), path.open("wb") as f:
        pickle.dump(snapshot, f)
    return path
