"""StyleGAN-XL model library: generators, their ops and checkpoints. No GUI and no training code.

import stylegan
G = stylegan.load("model.safetensors")          # or an official .pkl, or a preset name
ws = G.mapping(z, c, truncation_psi=0.7)
img = G.synthesis(ws, noise_mode="const")
stylegan.save(G, "copy.safetensors", class_names=[...])
"""

import importlib

from stylegan.errors import StyleGANError

# Loaded on first use, so that `import stylegan.errors` (the trainer's option checks) does not load torch.
_HOMES = {
    "load": "stylegan.io.loading",
    "save": "stylegan.io.loading",
    "PRESETS": "stylegan.networks",
    "Generator": "stylegan.networks",
    "create_generator": "stylegan.networks",
    "grow": "stylegan.networks",
}

__all__ = ["PRESETS", "Generator", "StyleGANError", "create_generator", "grow", "load", "save"]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'stylegan' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value
