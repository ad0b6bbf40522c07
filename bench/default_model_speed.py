"""Images per second of the bundled default model at batch 1 through the visualizer's renderer (a new seed each
frame, so nothing is served from a cache), against the random `stylegan-xl-tiny` preset measured in the same
run (the baseline).

    .venv/bin/python bench/default_model_speed.py [--frames 40] [--baseline stylegan-xl-tiny]
"""

from __future__ import annotations

from stylegan.memory import tune_allocator

tune_allocator()  # as the command line does, before torch is imported (bench/allocator.py measures it)

import argparse
import time

import torch

from stylegan.view import ViewArgs
from viz.renderer import Renderer


def images_per_second(model: str, frames: int) -> tuple[float, int]:
    renderer = Renderer()
    result = renderer.render(ViewArgs(model=model, seed_x=0.0))  # loads the model and warms up
    if result.error:
        raise SystemExit(f"{model}: {result.error}")
    start = time.perf_counter()
    for frame in range(1, frames + 1):
        result = renderer.render(ViewArgs(model=model, seed_x=float(frame)))
    seconds = time.perf_counter() - start
    return frames / seconds, int(result.image.shape[0])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--baseline", default="stylegan-xl-tiny")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch 1, {args.frames} frames")
    base, base_size = images_per_second(args.baseline, args.frames)
    speed, size = images_per_second("default", args.frames)
    print(f"{args.baseline:<18} {base_size}x{base_size}  {base:7.1f} img/s")
    print(f"{'default':<18} {size}x{size}  {speed:7.1f} img/s   ratio {speed / base:.2f} vs {args.baseline}")


if __name__ == "__main__":
    main()
