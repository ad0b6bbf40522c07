"""DiffAugment (Zhao et al. 2020): differentiable augmentation applied to real and generated images alike
before the discriminator's feature networks, as Projected GAN and StyleGAN-XL do.

Parameters follow the published defaults used there: brightness shift in [-0.5, 0.5), saturation factor in
[0, 2), contrast factor in [0.5, 1.5); translation by whole pixels up to 1/8 of the size with zeros shifted in;
cutout of one square of 1/5 of the size (zeros), anywhere in the image. Every draw is per image, from an
optional torch.Generator so runs can be reproduced.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

POLICIES = ("color", "translation", "cutout")


def _uniform(x: torch.Tensor, generator: torch.Generator | None, low: float, high: float) -> torch.Tensor:
    draw = torch.rand(
        [x.shape[0], 1, 1, 1], generator=generator, device=generator.device if generator else x.device
    )
    return (low + (high - low) * draw).to(device=x.device, dtype=x.dtype)


def _integers(count: int, low: int, high: int, generator: torch.Generator | None, device) -> torch.Tensor:
    """Integers in [low, high] inclusive, one per image."""
    draw_device = generator.device if generator else device
    return torch.randint(low, high + 1, [count], generator=generator, device=draw_device).to(device)


def color(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    x = x + _uniform(x, generator, -0.5, 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * _uniform(x, generator, 0.0, 2.0) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(x, generator, 0.5, 1.5) + mean  # contrast


def translation(
    x: torch.Tensor, generator: torch.Generator | None = None, ratio: float = 0.125
) -> torch.Tensor:
    """Shift each image by whole pixels (up to ratio * size each way); uncovered pixels become 0."""
    n, _, height, width = x.shape
    max_y, max_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    shift_y = _integers(n, -max_y, max_y, generator, x.device)
    shift_x = _integers(n, -max_x, max_x, generator, x.device)
    rows = torch.arange(height, device=x.device)[None, :] - shift_y[:, None]  # source row of each output row
    cols = torch.arange(width, device=x.device)[None, :] - shift_x[:, None]
    valid = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None, :]
    rows, cols = rows.clamp(0, height - 1), cols.clamp(0, width - 1)
    batch = torch.arange(n, device=x.device)[:, None, None]
    shifted = x.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    return shifted * valid[:, None].to(x.dtype)


def cutout(x: torch.Tensor, generator: torch.Generator | None = None, ratio: float = 0.2) -> torch.Tensor:
    """Zero one square of ratio * size per image, centred anywhere (it may be clipped by the border)."""
    n, _, height, width = x.shape
    size_y, size_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    centre_y = _integers(n, 0, height - 1, generator, x.device)
    centre_x = _integers(n, 0, width - 1, generator, x.device)
    rows = torch.arange(height, device=x.device)[None, :] - (centre_y - size_y // 2)[:, None]
    cols = torch.arange(width, device=x.device)[None, :] - (centre_x - size_x // 2)[:, None]
    inside = ((rows >= 0) & (rows < size_y))[:, :, None] & ((cols >= 0) & (cols < size_x))[:, None, :]
    return x * (~inside)[:, None].to(x.dtype)


_OPERATIONS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(
    x: torch.Tensor, policy: Sequence[str] = POLICIES, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Apply the policy's operations in order to images [N, C, H, W] in [-1, 1]; differentiable in x."""
    for name in policy:
        if name not in _OPERATIONS:
            raise ValueError(f"unknown augmentation {name!r}: use {', '.join(POLICIES)}")
        x = _OPERATIONS[name](x, generator)
    return x
