"""Tiny generators of every family for fast tests, with non-trivial buffers (w_avg, magnitude_ema, biases)."""

from __future__ import annotations

import torch

from stylegan.networks.generator import Generator
from stylegan.networks.specs import stem_specs, synthesis_config


def tiny_config(architecture: str = "stylegan-xl", c_dim: int = 5, radial: bool = False) -> dict:
    if architecture == "stylegan2":
        mapping = dict(num_layers=2, class_embedding="linear")
        synthesis = dict(channel_base=512, channel_max=16, conv_clamp=256, architecture="skip")
    else:
        layer_options = dict(conv_kernel=1, use_radial_filters=True) if radial else {}
        input_spec, layers = stem_specs(16, channel_base=1024, channel_max=32, num_layers=4, **layer_options)
        mapping = dict(num_layers=2, class_embedding="table" if architecture == "stylegan-xl" else "linear")
        synthesis = synthesis_config(input_spec, layers, dict(channel_base=1024, channel_max=32))
    return dict(
        z_dim=16,
        c_dim=c_dim,
        w_dim=32,
        img_resolution=16,
        img_channels=3,
        architecture=architecture,
        mapping_kwargs=mapping,
        synthesis_kwargs=synthesis,
    )


def randomize_buffers(G: Generator, seed: int = 1) -> Generator:
    """Give the buffers and biases that start at constants random values, so tests see their effect."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in list(G.named_parameters()) + list(G.named_buffers()):
            if name.endswith("w_avg") or (name.endswith("bias") and "affine" not in name):
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.5)
            elif name.endswith("magnitude_ema"):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) * 1.5 + 0.5)
    return G


def tiny_generator(
    architecture: str = "stylegan-xl", c_dim: int = 5, seed: int = 0, radial: bool = False
) -> Generator:
    torch.manual_seed(seed)
    return randomize_buffers(Generator(**tiny_config(architecture, c_dim, radial)), seed + 1).eval()


def latents(G: Generator, n: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn([n, G.z_dim], generator=generator)
    c = torch.zeros([n, G.c_dim])
    if G.c_dim:
        c[torch.arange(n), torch.arange(n) % G.c_dim] = 1
    return z, c


def drawn(G: Generator, seeds: list[int], classes: list[int], psi: float = 1.0, cutoff: int | None = None):
    """What `stylegan generate` draws for these seeds and classes: (uint8 images [N, H, W, C], ws)."""
    from stylegan.images import to_uint8
    from stylegan.latent import map_to_w, one_hot, synthesize, z_from_seeds

    with torch.no_grad():
        ws = map_to_w(G, z_from_seeds(seeds, G.z_dim), one_hot(classes, G.c_dim), psi, cutoff)
        return to_uint8(synthesize(G, ws)), ws


def make_zip(path, resolution: int, classes: int = 3, per_class: int = 4, empty_class: bool = False):
    """A training zip of images whose colour depends on the class, labelled in dataset.json."""
    import json
    import zipfile
    from io import BytesIO

    import numpy as np
    import PIL.Image

    rng = np.random.default_rng(resolution)
    labels = []
    with zipfile.ZipFile(path, "w") as archive:
        for k in range(classes):
            for i in range(per_class):
                pixels = (rng.random((resolution, resolution, 3)) * 60 + k * 90).astype(np.uint8)
                buffer = BytesIO()
                PIL.Image.fromarray(pixels).save(buffer, format="PNG")
                name = f"{k}-{i}.png"
                archive.writestr(name, buffer.getvalue())
                labels.append([name, k])
        names = [f"class{k}" for k in range(classes + int(empty_class))]
        archive.writestr("dataset.json", json.dumps({"labels": labels, "class_names": names}))
    return path
