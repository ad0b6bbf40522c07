"""StyleGAN-XL model library: generators, their ops and checkpoints. No GUI and no training code.

import stylegan
G = stylegan.load("model.safetensors")          # or an official .pkl, or a preset name
ws = G.mapping(z, c, truncation_psi=0.7)
img = G.synthesis(ws, noise_mode="const")
stylegan.save(G, "copy.safetensors", class_names=[...])
"""

from stylegan.errors import StyleGANError
from stylegan.io.loading import load, save
from stylegan.networks import PRESETS, Generator, create_generator, grow

__all__ = ["PRESETS", "Generator", "StyleGANError", "create_generator", "grow", "load", "save"]
