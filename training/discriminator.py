"""The Projected-GAN discriminator of StyleGAN-XL: frozen feature networks, trainable multi-scale heads.

Images are augmented (DiffAugment), normalised for each feature network and resized; each network's four mixed
feature maps go to four small convolutional heads with spectral normalisation. A class-conditional head
projects its output onto an embedding of the class (Miyato & Koyama 2018). The result is one logit map per
head, flattened: a list with one [N, K] tensor per feature network.
"""

from __future__ import annotations

import math

import torch

from stylegan.networks.layers import FullyConnectedLayer
from training.augment import POLICIES, diff_augment
from training.feature_networks import INPUT_SIZE, ProjectedFeatures

DEFAULT_BACKBONES = ("tf_efficientnet_lite0", "deit_base_distilled_patch16_224")
# Channels of a head's feature map at each size (Projected GAN's table).
HEAD_CHANNELS = {4: 512, 8: 512, 16: 256, 32: 128, 64: 64, 128: 64, 256: 32, 512: 16, 1024: 8}
HEAD_END_SIZE = 8


def spectral_conv(*args, **kwargs) -> torch.nn.Module:
    return torch.nn.utils.spectral_norm(torch.nn.Conv2d(*args, **kwargs))


class DownBlock(torch.nn.Sequential):
    """Halve the size: 4x4 stride-2 convolution, batch norm, leaky ReLU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            spectral_conv(in_channels, out_channels, 4, 2, 1),
            torch.nn.BatchNorm2d(out_channels),
            torch.nn.LeakyReLU(0.2),
        )


class DiscriminatorHead(torch.nn.Module):
    """Down blocks from the feature map's nominal size to 8, then a 4x4 convolution to the logits."""

    def __init__(
        self,
        in_channels: int,
        start_size: int,
        c_dim: int = 0,
        cmap_dim: int = 64,  # width of the class projection
        embed_dim: int = 320,  # width of the class embedding (EfficientNet-lite0 features)
        width_max: int | None = None,  # cap on the channels of the down blocks (tiny test models)
    ):
        super().__init__()
        channels = {size: min(width, width_max or width) for size, width in HEAD_CHANNELS.items()}
        channels[start_size] = in_channels
        blocks, size = [], start_size
        while size > HEAD_END_SIZE:
            blocks.append(DownBlock(channels[size], channels[size // 2]))
            size //= 2
        self.main = torch.nn.Sequential(*blocks)
        self.c_dim = c_dim
        self.cmap_dim = cmap_dim
        # A map that starts at 4 (small input sizes) has no down blocks: its 4x4 convolution gives one logit.
        self.out = spectral_conv(channels[size], cmap_dim if c_dim else 1, 4, 1, 0, bias=False)
        if c_dim:
            self.embed = torch.nn.Embedding(c_dim, embed_dim)
            self.embed_proj = FullyConnectedLayer(embed_dim, cmap_dim, activation="lrelu")

    def forward(self, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        out = self.out(self.main(x))
        if self.c_dim:
            cmap = self.embed_proj(self.embed(c.argmax(dim=1)))[:, :, None, None]
            out = (out * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return out.flatten(1)


class ProjectedDiscriminator(torch.nn.Module):
    """The constructor arguments are the whole config: `ProjectedDiscriminator(**D.config)` rebuilds it."""

    def __init__(
        self,
        c_dim: int = 0,
        backbones: tuple[str, ...] | list[str] = DEFAULT_BACKBONES,
        pretrained: bool = True,  # False: random feature networks (tests, offline experiments)
        augment: tuple[str, ...] | list[str] = POLICIES,  # DiffAugment policy, () for none
        cout: int = 64,  # channels of the finest mixed feature map
        cmap_dim: int = 64,
        embed_dim: int = 320,
        head_width_max: int | None = None,  # cap on the heads' channels (tiny test models)
        input_size: int = INPUT_SIZE,  # smaller images are resized to this for the feature networks
    ):
        super().__init__()
        self.config = dict(
            c_dim=c_dim,
            backbones=list(backbones),
            pretrained=pretrained,
            augment=list(augment),
            cout=cout,
            cmap_dim=cmap_dim,
            embed_dim=embed_dim,
            head_width_max=head_width_max,
            input_size=input_size,
        )
        self.c_dim = c_dim
        self.augment = tuple(augment)
        self.feature_networks = torch.nn.ModuleDict(
            {name: ProjectedFeatures(name, pretrained, cout, input_size) for name in backbones}
        )
        self.heads = torch.nn.ModuleDict(
            {
                name: torch.nn.ModuleList(
                    DiscriminatorHead(channels, size, c_dim, cmap_dim, embed_dim, head_width_max)
                    for channels, size in zip(features.channels, features.resolutions, strict=True)
                )
                for name, features in self.feature_networks.items()
            }
        )

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return list(self.heads.parameters())

    def set_class_embeddings(self, embeddings: torch.Tensor) -> None:
        """Initialise every head's class embedding [c_dim, embed_dim] (then trained with the heads)."""
        with torch.no_grad():
            for heads in self.heads.values():
                for head in heads:
                    head.embed.weight.copy_(embeddings)

    def forward(
        self, images: torch.Tensor, c: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> list[torch.Tensor]:
        """Images in [-1, 1] [N, 3, H, W] and one-hot labels -> one [N, K] logit tensor per feature network."""
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        logits = []
        for name, features in self.feature_networks.items():
            x = diff_augment(images, self.augment, generator) if self.augment else images
            maps = features(features.normalize(x))
            logits.append(
                torch.cat([head(m, c) for head, m in zip(self.heads[name], maps, strict=True)], dim=1)
            )
        return logits
