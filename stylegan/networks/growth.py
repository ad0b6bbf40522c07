"""Progressive growth (StyleGAN-XL's superresolution stages): a trained generator -> the next stage."""

from __future__ import annotations

import copy

import torch

from stylegan.errors import StyleGANError
from stylegan.networks.generator import Generator
from stylegan.networks.specs import LayerSpec, superres_specs


def grow(G: Generator, head_layers: int = 7, up_factor: int = 2, seed: int | None = None) -> Generator:
    """Return the next stage of an alias-free generator, `up_factor` times the resolution.

    The critically sampled layers and ToRGB are dropped, `head_layers` new layers plus a new ToRGB are appended,
    and the mapping, the input and every kept layer are copied, so the kept layers compute exactly what they
    computed before. The kept layers are recorded as the frozen stem (`G.synthesis.stem_layers`).
    New layers are randomly initialised (from `seed` when given).
    """
    if G.architecture == "stylegan2":
        raise StyleGANError("only alias-free generators (StyleGAN-XL, StyleGAN3) can be grown")
    synthesis_kwargs = copy.deepcopy(G.config["synthesis_kwargs"])
    layout = synthesis_kwargs.get("layout") or {}
    specs = [LayerSpec(**layer) for layer in synthesis_kwargs["layers"]]
    try:
        new_specs = superres_specs(
            specs,
            head_layers,
            up_factor,
            img_channels=G.img_channels,
            conv_kernel=specs[0].conv_kernel,
            use_radial_filters=specs[0].use_radial_filters,
            **{k: v for k, v in layout.items() if k not in ("conv_kernel", "use_radial_filters")},
        )
    except ValueError as error:
        raise StyleGANError(f"cannot grow this generator: {error}") from None
    kept = sum(1 for spec in specs if not spec.is_critically_sampled)
    synthesis_kwargs["layers"] = [spec.to_dict() for spec in new_specs]
    synthesis_kwargs["stem_layers"] = kept

    config = copy.deepcopy(G.config)
    config["img_resolution"] = G.img_resolution * up_factor
    config["synthesis_kwargs"] = synthesis_kwargs
    with torch.random.fork_rng(enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        grown = Generator(**config)

    kept_names = [spec.name for spec in specs[:kept]]
    source = G.state_dict()
    inherited = {
        key: value
        for key, value in source.items()
        if key.startswith(("mapping.", "synthesis.input."))
        or any(key.startswith(f"synthesis.{name}.") for name in kept_names)
    }
    grown.load_state_dict(inherited, strict=False)
    return grown.to(G.device)


def freeze_stem(G: Generator) -> list[torch.nn.Parameter]:
    """Freeze the mapping and the stem layers; return the parameters of the head, which alone train."""
    G.requires_grad_(False)
    head = []
    for name in G.synthesis.head_layer_names:
        layer = getattr(G.synthesis, name)
        layer.requires_grad_(True)
        head.extend(layer.parameters())
    return head
