"""Whole synthesis and inversion, fast ops against the reference, measured in the same process.

Synthesis of the layouts in bench/_layouts.py (StyleGAN-XL 64x64 and StyleGAN3-T 64x64 with 128 channels,
StyleGAN-XL 32x32 with 256 channels) at batch 1 and 4, and inversion steps per second of the bundled default
model. STYLEGAN_OPS switches every op between 'fast' and 'ref'; runs alternate between the two and the minimum
of the repeats is kept, since a shared machine adds noise.

    OMP_NUM_THREADS=1 .venv/bin/python bench/generator.py [--repeats 5] [--steps 5] [--batches 1 4]
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from _layouts import LAYOUTS, layout_generator

import stylegan
from stylegan.inversion import Projector
from stylegan.ops._dispatch import ENV_VARIABLE
from stylegan.perceptual import ReconstructionLoss


def alternating_min(function, repeats: int) -> dict[str, float]:
    """Seconds per call of function() under each implementation, the minimum over interleaved repeats."""
    best = {"fast": float("inf"), "ref": float("inf")}
    saved = os.environ.get(ENV_VARIABLE)
    try:
        for impl in best:  # warm-up
            os.environ[ENV_VARIABLE] = impl
            function()
        for _ in range(repeats):
            for impl in best:
                os.environ[ENV_VARIABLE] = impl
                start = time.perf_counter()
                function()
                best[impl] = min(best[impl], time.perf_counter() - start)
    finally:
        if saved is None:
            os.environ.pop(ENV_VARIABLE, None)
        else:
            os.environ[ENV_VARIABLE] = saved
    return best


def synthesis(batches: list[int], repeats: int) -> None:
    for name in LAYOUTS:
        G = layout_generator(name)
        for batch in batches:
            z = torch.randn([batch, G.z_dim], generator=torch.Generator().manual_seed(0))
            c = torch.zeros([batch, G.c_dim])
            with torch.no_grad():
                ws = G.mapping(z, c)
                best = alternating_min(lambda G=G, ws=ws: G.synthesis(ws), repeats)
            print(f"  {name:<24} batch {batch}:  fast {best['fast'] * 1e3:8.1f} ms  ref {best['ref'] * 1e3:8.1f} ms  "
                  f"x{best['ref'] / best['fast']:5.2f}")  # fmt: skip


def inversion(steps: int, repeats: int) -> None:
    G = stylegan.load("default")
    target = torch.rand([1, G.img_channels, G.img_resolution, G.img_resolution]) * 2 - 1
    projector = Projector(G, target, ReconstructionLoss(None), class_index=0, num_steps=10**6)

    def run():
        for _ in range(steps):
            projector.step()

    best = alternating_min(run, repeats)
    fast, ref = steps / best["fast"], steps / best["ref"]
    print(f"  default model ({G.img_resolution}x{G.img_resolution}), w+, pixel+ms-ssim loss:  "
          f"fast {fast:6.2f} steps/s  ref {ref:6.2f} steps/s  x{fast / ref:5.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="inversion steps per timed run")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, min of {args.repeats} interleaved runs"
    )
    print("synthesis")
    synthesis(args.batches, args.repeats)
    print("inversion")
    inversion(args.steps, args.repeats)


if __name__ == "__main__":
    main()
