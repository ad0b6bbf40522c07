"""The visualizer's bf16 preview on the CPU: milliseconds per frame of render_view with preview_bf16 against the
float32 frame of the same view measured in the same run (the baseline), and the preview's error against that
frame (largest difference in 8-bit levels, PSNR in dB), for the bundled default model and two StyleGAN-XL layouts
with random weights: 64x64 at 128 channels, and 32x32 at 256, where the convolutions are a larger share.

    .venv/bin/python bench/bf16_preview.py [--seeds 8] [--repeats 3]
"""

from __future__ import annotations

from stylegan.memory import tune_allocator

tune_allocator()  # as the command line does, before torch is imported (bench/allocator.py measures it)

import argparse
import math

import numpy as np
import torch
from _layouts import layout_generator

import stylegan
from stylegan.devices import cpu_has_bfloat16
from stylegan.view import ViewArgs, render_view


def frame(G, seed: int, bf16: bool) -> tuple[np.ndarray, float]:  # noqa: N803
    """(the uint8 picture, the synthesis seconds) of one seed's view."""
    view = render_view(G, ViewArgs(seed_x=float(seed), preview_bf16=bf16))
    return view.image, view.synthesis_seconds


def measure(G, seeds: int, repeats: int) -> dict[str, float]:  # noqa: N803
    frame(G, 0, False), frame(G, 0, True)  # warm-up
    seconds = {False: [], True: []}
    worst, psnrs = 0, []
    for seed in range(seeds):
        images = {}
        for bf16 in (False, True):
            for _ in range(repeats):
                images[bf16], took = frame(G, seed, bf16)
                seconds[bf16].append(took)
        difference = images[True].astype(np.float64) - images[False]
        worst = max(worst, int(np.abs(difference).max()))
        mse = float(np.square(difference).mean())
        psnrs.append(math.inf if mse == 0 else 10 * math.log10(255**2 / mse))
    return dict(
        fp32=float(np.median(seconds[False])),
        bf16=float(np.median(seconds[True])),
        worst=worst,
        psnr_min=min(psnrs),
        psnr_mean=float(np.mean(psnrs)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3, help="frames per seed and precision (median taken)")
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch 1, {args.seeds} seeds; "
        f"native bf16 on this CPU: {cpu_has_bfloat16()}"
    )
    generators = {
        "default": stylegan.load("default"),
        "stylegan-xl 64x64 c128": layout_generator("stylegan-xl 64x64 c128"),
        "stylegan-xl 32x32 c256": layout_generator("stylegan-xl 32x32 c256"),
    }
    for name, G in generators.items():  # noqa: N806
        r = measure(G, args.seeds, args.repeats)
        print(
            f"{name:<24} {G.img_resolution}x{G.img_resolution}  fp32 {r['fp32'] * 1e3:7.1f} ms  "
            f"bf16 {r['bf16'] * 1e3:7.1f} ms  ratio {r['fp32'] / r['bf16']:.2f}x   max |diff| {r['worst']} "
            f"of 255, PSNR {r['psnr_min']:.1f} dB (worst seed), {r['psnr_mean']:.1f} dB (mean)"
        )


if __name__ == "__main__":
    main()
