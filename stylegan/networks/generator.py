"""The generator: mapping network + synthesis network, for every supported family."""

from __future__ import annotations

import copy

import torch

from stylegan.errors import StyleGANError
from stylegan.networks.alias_free import SynthesisNetwork
from stylegan.networks.mapping import MappingNetwork
from stylegan.networks.stylegan2 import StyleGAN2Synthesis
from stylegan.networks.summary import LayerRow

ARCHITECTURES = ("stylegan-xl", "stylegan3", "stylegan2")


class Generator(torch.nn.Module):
    """z, c -> image. The constructor arguments are the whole config: `Generator(**G.config)` rebuilds it.

    `architecture` selects the synthesis family: 'stylegan-xl' and 'stylegan3' use the alias-free synthesis
    (`synthesis_kwargs` = input spec, layer specs, ...); 'stylegan2' uses the StyleGAN2 synthesis.
    """

    def __init__(
        self,
        z_dim: int,  # dimensionality of z
        c_dim: int,  # number of classes, 0 = unconditional
        w_dim: int,  # dimensionality of w
        img_resolution: int,  # output resolution
        img_channels: int = 3,  # output colour channels
        architecture: str = "stylegan-xl",  # 'stylegan-xl', 'stylegan3' or 'stylegan2'
        mapping_kwargs: dict | None = None,  # MappingNetwork arguments other than the dimensions
        synthesis_kwargs: dict | None = None,  # synthesis network arguments other than the dimensions
    ):
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, not {architecture!r}")
        mapping_kwargs = dict(mapping_kwargs or {})
        synthesis_kwargs = dict(synthesis_kwargs or {})
        self.config = copy.deepcopy(
            dict(
                z_dim=z_dim,
                c_dim=c_dim,
                w_dim=w_dim,
                img_resolution=img_resolution,
                img_channels=img_channels,
                architecture=architecture,
                mapping_kwargs=mapping_kwargs,
                synthesis_kwargs=synthesis_kwargs,
            )
        )
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.architecture = architecture
        self.metadata: dict = {}  # facts about the model from its checkpoint (class names, provenance, ...)
        synthesis_class = StyleGAN2Synthesis if architecture == "stylegan2" else SynthesisNetwork
        self.synthesis = synthesis_class(
            w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels, **synthesis_kwargs
        )
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **mapping_kwargs
        )

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str = "const",
        force_fp32: bool = False,
        update_emas: bool = False,
    ) -> torch.Tensor:
        ws = self.mapping(
            z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, update_emas=update_emas
        )
        return self.synthesis(ws, noise_mode=noise_mode, force_fp32=force_fp32, update_emas=update_emas)

    @property
    def device(self) -> torch.device:
        """Where the generator's weights and buffers are."""
        return self.mapping.w_avg.device

    @property
    def is_alias_free(self) -> bool:
        """StyleGAN3 / StyleGAN-XL synthesis: it has an input transform and sampling rates per layer."""
        return isinstance(self.synthesis, SynthesisNetwork)

    def set_input_transform(self, angle: float = 0.0, tx: float = 0.0, ty: float = 0.0) -> None:
        """Rotate (radians) and translate the canvas of an alias-free generator; StyleGAN2 has no input to move,
        so there only the identity is accepted."""
        if self.is_alias_free:
            self.synthesis.set_input_transform(angle, tx, ty)
        elif angle or tx or ty:
            raise StyleGANError("StyleGAN2 generators have no input transform to rotate or translate")

    def layers(self) -> list[LayerRow]:
        """The synthesis layers in execution order: name, output size and channels, sampling rate, cutoff, fp16."""
        return self.synthesis.layers()

    @property
    def has_noise(self) -> bool:
        """Whether noise_mode changes the output (StyleGAN2 noise inputs)."""
        return self.architecture == "stylegan2"

    def extra_repr(self) -> str:
        return (
            f"architecture={self.architecture}, z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, "
            f"num_ws={self.num_ws}, img_resolution={self.img_resolution}"
        )
