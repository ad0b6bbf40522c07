"""A plain description of a generator's synthesis layers, for `stylegan info` and the GUI's layer list."""

from __future__ import annotations

from dataclasses import dataclass

from stylegan.networks.alias_free import SynthesisNetwork
from stylegan.networks.generator import Generator


@dataclass(frozen=True)
class LayerRow:
    name: str  # module path inside G.synthesis
    size: int  # output spatial size in pixels (margin included)
    channels: int  # output channels
    sampling_rate: float | None  # samples per unit length (alias-free networks only)
    cutoff: float | None  # output cutoff frequency (alias-free networks only)
    fp16: bool  # runs in float16 on CUDA


def layer_rows(G: Generator) -> list[LayerRow]:
    """One row per synthesis layer, in execution order."""
    synthesis = G.synthesis
    if isinstance(synthesis, SynthesisNetwork):
        rows = [
            LayerRow(
                "input",
                synthesis.input.size,
                synthesis.input.channels,
                synthesis.input.sampling_rate,
                synthesis.input.bandwidth,
                False,
            )
        ]
        for spec in synthesis.layer_specs:
            rows.append(
                LayerRow(
                    spec.name,
                    spec.out_size,
                    spec.out_channels,
                    spec.out_sampling_rate,
                    spec.out_cutoff,
                    spec.use_fp16,
                )
            )
        return rows
    return [
        LayerRow(name, size, channels, None, None, fp16)
        for name, size, channels, fp16 in synthesis.layer_list()
    ]


def parameter_count(G: Generator) -> int:
    return sum(p.numel() for p in G.parameters())
