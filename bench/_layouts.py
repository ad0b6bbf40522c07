"""The generator layouts the fast-ops benchmarks measure: two 128-channel ones at 64x64 and a 256-channel one
at 32x32, built from the presets with a narrower channel_max (a StyleGAN-XL small-dataset layout, StyleGAN3-T).
The CUDA benchmarks measure the published StyleGAN-XL presets (CUDA_LAYOUTS) and time calls with CUDA events;
implementation() switches the ops between the paths the benchmarks compare."""

from __future__ import annotations

import dataclasses
import os
from unittest import mock

import torch

from stylegan.networks import presets
from stylegan.networks.generator import Generator
from stylegan.ops import native
from stylegan.ops._dispatch import ENV_VARIABLE

LAYOUTS = {
    "stylegan-xl 64x64 c128": ("stylegan-xl-small-64", dict(channel_max=128)),
    "stylegan3-t 64x64 c128": ("stylegan3-t-64", dict(channel_max=128)),
    "stylegan-xl 32x32 c256": ("stylegan-xl-small-32", dict(channel_max=256)),
}


def layout_config(name: str) -> dict:
    base, layout = LAYOUTS[name]
    if base == "stylegan3-t-64":
        preset = dataclasses.replace(presets.PRESETS["stylegan3-t-1024"], img_resolution=64)
    else:
        preset = presets.PRESETS[base]
    preset = dataclasses.replace(preset, layout={**preset.layout, **layout})
    # preset_config reads the table by name; register the variant for the call only.
    key = f"_bench_{base}"
    presets.PRESETS[key] = preset
    try:
        return presets.preset_config(key)
    finally:
        del presets.PRESETS[key]


def layout_generator(name: str, seed: int = 0) -> Generator:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return Generator(**layout_config(name)).eval()


# The ImageNet StyleGAN-XL layouts of the CUDA benchmarks, by preset name.
CUDA_LAYOUTS = ("stylegan-xl-256", "stylegan-xl-512", "stylegan-xl-1024")


def named_generator(name: str, seed: int = 0) -> Generator:
    """A layout of LAYOUTS or a preset (stylegan.networks.presets) by name, with random weights."""
    return layout_generator(name, seed) if name in LAYOUTS else presets.create_generator(name, seed)


def cuda_seconds(function) -> float:
    """Seconds function() takes on the current CUDA stream, between two events, after the queued work."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    function()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3


def implementation(impl: str):
    """A context in which every op runs under `impl` ('fast', 'ref', or 'pytorch': fast without the compiled
    CPU kernels), set through STYLEGAN_OPS and STYLEGAN_NATIVE and restored afterwards."""
    wanted = {
        ENV_VARIABLE: "fast" if impl == "pytorch" else impl,
        native.ENV_VARIABLE: "0" if impl == "pytorch" else "1",
    }
    return mock.patch.dict(os.environ, wanted)
