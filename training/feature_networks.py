"""The frozen feature networks of the Projected-GAN discriminator, created through timm.

Each network gives four feature maps, from fine to coarse (strides 4, 8, 16, 32 of a 224 input). These are then
mixed by random, frozen 1x1 convolutions across channels (CCM) and by a top-down pyramid across scales (CSM),
as in Projected GAN; the discriminator heads see the mixed maps.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from stylegan.errors import StyleGANError
from stylegan.pretrained import create_timm_model

IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def network_input(images: torch.Tensor, mean, std, size: int, always_resize: bool = True) -> torch.Tensor:
    """[-1, 1] images (grey ones as RGB) -> an ImageNet network's normalised input, bilinearly resized to
    `size` (with always_resize=False only when smaller). The D's features, the FID and classifier guidance
    all feed their networks through this."""
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    mean = torch.as_tensor(mean, device=images.device, dtype=images.dtype).view(1, -1, 1, 1)
    std = torch.as_tensor(std, device=images.device, dtype=images.dtype).view(1, -1, 1, 1)
    x = ((images + 1) / 2 - mean) / std
    if always_resize or x.shape[-1] < size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x


INCEPTION_STATS = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
INPUT_SIZE = 224

# The efficientnet blocks that end each of the four stages (the rest of timm's network is not used).
_EFFICIENTNET_STAGE_ENDS = (2, 3, 5, 7)
# Transformer blocks whose tokens are taken, and the channels each is projected to, per width.
_VIT_HOOKS = (2, 5, 8, 11)
_VIT_FEATURES = {192: (24, 48, 96, 192), 384: (48, 96, 192, 384), 768: (96, 192, 384, 768)}


def normalization_stats(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The input mean and std the network was trained with: TF-ported efficientnet-lite and ViT use 0.5, 0.5."""
    if name.startswith(("tf_efficientnet_lite", "vit_")):
        return INCEPTION_STATS
    return IMAGENET_STATS


class EfficientNetStages(torch.nn.Module):
    """A timm efficientnet cut into four stages."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        start = 0
        stages = []
        for index, end in enumerate(_EFFICIENTNET_STAGE_ENDS):
            prefix = [model.conv_stem, model.bn1] if index == 0 else []
            stages.append(torch.nn.Sequential(*prefix, *model.blocks[start:end]))
            start = end
        self.stages = torch.nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


class VisionTransformerStages(torch.nn.Module):
    """A timm ViT / DeiT as four maps: the tokens after four blocks, reshaped to 14x14 and brought to strides
    4, 8, 16 and 32 by random (frozen) transposed or strided convolutions."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        width = model.embed_dim
        if width not in _VIT_FEATURES or len(model.blocks) <= max(_VIT_HOOKS):
            raise StyleGANError(f"unsupported vision transformer (width {width}, {len(model.blocks)} blocks)")
        self.model = model
        self.grid = INPUT_SIZE // model.patch_embed.patch_size[0]
        channels = _VIT_FEATURES[width]
        self.resamplers = torch.nn.ModuleList(
            [
                torch.nn.Sequential(
                    torch.nn.Conv2d(width, channels[0], 1),
                    torch.nn.ConvTranspose2d(channels[0], channels[0], 4, stride=4),
                ),
                torch.nn.Sequential(
                    torch.nn.Conv2d(width, channels[1], 1),
                    torch.nn.ConvTranspose2d(channels[1], channels[1], 2, stride=2),
                ),
                torch.nn.Conv2d(width, channels[2], 1),
                torch.nn.Sequential(
                    torch.nn.Conv2d(width, channels[3], 1),
                    torch.nn.Conv2d(channels[3], channels[3], 3, stride=2, padding=1),
                ),
            ]
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        model = self.model
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"a vision transformer feature network takes {INPUT_SIZE}x{INPUT_SIZE} input")
        tokens = model.norm_pre(model.patch_drop(model._pos_embed(model.patch_embed(x))))
        taken = []
        for index, block in enumerate(model.blocks[: max(_VIT_HOOKS) + 1]):
            tokens = block(tokens)
            if index in _VIT_HOOKS:
                taken.append(tokens[:, model.num_prefix_tokens :])
        maps = [t.transpose(1, 2).unflatten(2, (self.grid, self.grid)) for t in taken]
        return [resample(m) for resample, m in zip(self.resamplers, maps, strict=True)]


def feature_stages(name: str, pretrained: bool) -> torch.nn.Module:
    model = create_timm_model(name, pretrained)
    if hasattr(model, "conv_stem") and hasattr(model, "blocks") and len(model.blocks) >= 7:
        return EfficientNetStages(model)
    if hasattr(model, "patch_embed") and hasattr(model, "blocks"):
        return VisionTransformerStages(model)
    raise StyleGANError(f"{name}: only efficientnet and ViT/DeiT feature networks are supported")


class FeatureFusion(torch.nn.Module):
    """One level of the cross-scale mixing: add the coarser level, upsample x2, 1x1 convolution."""

    def __init__(self, channels: int, out_channels: int):
        super().__init__()
        self.out_conv = torch.nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor, lateral: torch.Tensor | None = None) -> torch.Tensor:
        if lateral is not None:
            x = x + lateral
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        return self.out_conv(x)


def head_sizes(input_size: int) -> list[int]:
    """Nominal sizes of the four mixed maps, used to size the heads: the mixed maps are input / 2, 4, 8 and 16,
    each rounded up to a power of two (at 224: 128, 64, 32, 16, as the official code has them)."""
    return [2 ** math.ceil(math.log2(input_size / 2 ** (level + 1))) for level in range(4)]


class ProjectedFeatures(torch.nn.Module):
    """Feature network + random cross-channel and cross-scale mixing. Everything in it stays frozen.

    With `cout` 64 the four outputs have 64, 64, 128 and 256 channels. Smaller images are resized to `input_size`
    (224 as the official code; 64 to 128 is several times faster for small images, see the README).
    """

    def __init__(self, name: str, pretrained: bool = True, cout: int = 64, input_size: int = INPUT_SIZE):
        super().__init__()
        self.name = name
        self.mean, self.std = normalization_stats(name)
        self.network = feature_stages(name, pretrained)
        self.fixed_input = isinstance(self.network, VisionTransformerStages)
        if input_size < 64 or (self.fixed_input and input_size != INPUT_SIZE):
            needed = f"exactly {INPUT_SIZE}" if self.fixed_input else "at least 64"
            raise StyleGANError(f"{name}: the input size must be {needed}, not {input_size}")
        self.input_size = input_size
        self.network.to(memory_format=torch.channels_last)
        with torch.no_grad():
            probe = self.network(torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE))
        in_channels = [f.shape[1] for f in probe]
        mixed = [cout, cout * 2, cout * 4, cout * 8]
        self.channel_mixing = torch.nn.ModuleList(
            [torch.nn.Conv2d(c, m, 1) for c, m in zip(in_channels, mixed, strict=True)]
        )
        # The coarsest three levels halve their channels; the finest keeps them.
        self.scale_mixing = torch.nn.ModuleList(
            [FeatureFusion(mixed[0], mixed[0])] + [FeatureFusion(m, m // 2) for m in mixed[1:]]
        )
        self.channels = [cout, cout, cout * 2, cout * 4]
        self.resolutions = head_sizes(input_size)
        self.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> ProjectedFeatures:
        return super().train(False)  # batch norms and dropout of the feature network stay in inference mode

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images -> this network's normalised input, resized to the input size when smaller (always for
        a ViT), in channels-last memory order (faster convolutions on CPUs)."""
        always = self.fixed_input and x.shape[-1] != self.input_size
        x = network_input(x, self.mean, self.std, self.input_size, always_resize=always)
        return x.contiguous(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Normalised input -> four mixed feature maps, finest first."""
        features = [mix(f) for mix, f in zip(self.channel_mixing, self.network(x), strict=True)]
        out = [None] * 4
        out[3] = self.scale_mixing[3](features[3])
        for level in (2, 1, 0):
            out[level] = self.scale_mixing[level](out[level + 1], features[level])
        return out

    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature network's coarsest map averaged over space [N, C] (StyleGAN-XL's class embeddings)."""
        return self.network(self.normalize(x))[-1].mean(dim=(2, 3))
