"""A plain description of a synthesis layer, which both synthesis families give through `layers()`, for
`stylegan info` and the GUI's layer list."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LayerRow:
    name: str  # module path inside G.synthesis
    size: int  # output spatial size in pixels (margin included)
    channels: int  # output channels
    sampling_rate: float | None  # samples per unit length (alias-free networks only)
    cutoff: float | None  # output cutoff frequency (alias-free networks only)
    fp16: bool  # runs in float16 on CUDA


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
