"""Generator networks: mapping, alias-free and StyleGAN2 synthesis, layer specs, growth and presets."""

from stylegan.networks.generator import Generator
from stylegan.networks.growth import freeze_stem, grow
from stylegan.networks.presets import PRESETS, create_generator, preset_config

__all__ = ["PRESETS", "Generator", "create_generator", "freeze_stem", "grow", "preset_config"]
