"""Named generator layouts: the published StyleGAN-XL / StyleGAN3 / StyleGAN2 configurations and small ones.

`preset_config(name)` gives a Generator config (plain data); `create_generator(name)` builds it with random
weights. Layouts of the grown StyleGAN-XL presets are produced by the same growth rule that training uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from stylegan.errors import StyleGANError
from stylegan.networks.generator import Generator
from stylegan.networks.specs import stem_specs, superres_specs, synthesis_config


@dataclass(frozen=True)
class Preset:
    description: str
    architecture: str
    img_resolution: int  # of the stem for grown presets
    z_dim: int = 512
    c_dim: int = 0
    w_dim: int = 512
    mapping: dict = field(default_factory=dict)  # MappingNetwork options
    layout: dict = field(
        default_factory=dict
    )  # stem_specs options (alias-free) or StyleGAN2Synthesis options
    layer_options: dict = field(default_factory=dict)  # per-layer LayerSpec options of the stem
    stages: tuple[tuple[int, int], ...] = ()  # superres stages: (head_layers, up_factor)


# The ImageNet StyleGAN-XL: a 16x16 stem of 11 layers (10 + ToRGB), then x2 stages of 7 head layers, and 5 at 1024.
_XL_MAPPING = dict(num_layers=2, class_embedding="table", embed_dim=320)
_XL_LAYOUT = dict(channel_base=65536, channel_max=1024, num_layers=10)
_XL_STAGES = ((7, 2), (7, 2), (7, 2), (7, 2), (7, 2), (5, 2))


# The official README's settings for small datasets (--cbase 16384 --cmax 256 --syn_layers 7, 4 head layers per
# stage), doubled as train.py doubles them for StyleGAN-XL; unconditional.
_XL_SMALL_LAYOUT = dict(channel_base=32768, channel_max=512, num_layers=7)
_RESOLUTIONS = (16, 32, 64, 128, 256, 512, 1024)


def _stages_to(resolution: int, stages: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    return stages[: (resolution // 16).bit_length() - 1]


def _xl_preset(resolution: int) -> Preset:
    stages = _stages_to(resolution, _XL_STAGES)
    return Preset(
        description=f"StyleGAN-XL ImageNet layout at {resolution}x{resolution} (16x16 stem + {len(stages)} stages)",
        architecture="stylegan-xl",
        img_resolution=16,
        z_dim=64,
        c_dim=1000,
        mapping=_XL_MAPPING,
        layout=_XL_LAYOUT,
        stages=stages,
    )


def _xl_small_preset(resolution: int) -> Preset:
    stages = _stages_to(resolution, ((4, 2),) * 6)
    return Preset(
        description=f"StyleGAN-XL small-dataset layout at {resolution}x{resolution}, unconditional",
        architecture="stylegan-xl",
        img_resolution=16,
        z_dim=64,
        mapping=_XL_MAPPING,
        layout=_XL_SMALL_LAYOUT,
        stages=stages,
    )


PRESETS: dict[str, Preset] = {
    **{f"stylegan-xl-{res}": _xl_preset(res) for res in _RESOLUTIONS},
    **{f"stylegan-xl-small-{res}": _xl_small_preset(res) for res in _RESOLUTIONS},
    "stylegan-xl-tiny": Preset(
        description="small StyleGAN-XL (16x16 stem grown to 32x32, 10 classes) for tests and the default model",
        architecture="stylegan-xl",
        img_resolution=16,
        z_dim=64,
        c_dim=10,
        mapping=_XL_MAPPING,
        layout=dict(channel_base=4096, channel_max=64, num_layers=6),
        stages=((4, 2),),
    ),
    "stylegan3-t-1024": Preset(
        description="StyleGAN3-T at 1024x1024 (FFHQ / MetFaces layout)",
        architecture="stylegan3",
        img_resolution=1024,
        mapping=dict(num_layers=2, class_embedding="linear"),
        layout=dict(channel_base=32768, channel_max=512),
    ),
    "stylegan3-r-1024": Preset(
        description="StyleGAN3-R at 1024x1024 (doubled channels, 1x1 convolutions, radial filters)",
        architecture="stylegan3",
        img_resolution=1024,
        mapping=dict(num_layers=2, class_embedding="linear"),
        layout=dict(channel_base=65536, channel_max=1024),
        layer_options=dict(conv_kernel=1, use_radial_filters=True),
    ),
    "stylegan2-1024": Preset(
        description="StyleGAN2 at 1024x1024 (config F: 8 mapping layers, skip architecture)",
        architecture="stylegan2",
        img_resolution=1024,
        mapping=dict(num_layers=8, class_embedding="linear"),
        layout=dict(channel_base=32768, channel_max=512, num_fp16_res=4, conv_clamp=256, architecture="skip"),
    ),
}

_GROWTH_KEYS = ("channel_base", "channel_max", "margin_size", "last_stopband_rel", "num_fp16_res")


def _alias_free_synthesis_kwargs(preset: Preset) -> tuple[int, dict]:
    layout = dict(preset.layout)
    input_spec, layers = stem_specs(preset.img_resolution, **layout, **preset.layer_options)
    growth_layout = {key: layout[key] for key in _GROWTH_KEYS if key in layout}
    resolution, stem_layers = preset.img_resolution, 0
    for head_layers, up_factor in preset.stages:
        stem_layers = sum(1 for layer in layers if not layer.is_critically_sampled)
        layers = superres_specs(layers, head_layers, up_factor, **growth_layout, **preset.layer_options)
        resolution *= up_factor
    return resolution, synthesis_config(input_spec, layers, growth_layout, stem_layers)


def preset_config(name: str) -> dict:
    """Generator config of a named preset."""
    if name not in PRESETS:
        raise StyleGANError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    preset = PRESETS[name]
    if preset.architecture == "stylegan2":
        resolution, synthesis_kwargs = preset.img_resolution, dict(preset.layout)
    else:
        resolution, synthesis_kwargs = _alias_free_synthesis_kwargs(preset)
    return dict(
        z_dim=preset.z_dim,
        c_dim=preset.c_dim,
        w_dim=preset.w_dim,
        img_resolution=resolution,
        img_channels=3,
        architecture=preset.architecture,
        mapping_kwargs=dict(preset.mapping),
        synthesis_kwargs=synthesis_kwargs,
    )


def create_generator(name: str, seed: int = 0) -> Generator:
    """A randomly initialised generator of a named preset, reproducible from `seed`."""
    config = preset_config(name)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return Generator(**config).eval()
