"""CPU (or CUDA) synthesis time per image for named presets.

Prints seconds per image for each preset and its ratio to the first preset measured in the same run
(the baseline), since absolute times on shared machines drift.

    .venv/bin/python bench/synthesis_speed.py [--device cpu] [--batch 1] [--repeats 5] [PRESET ...]
"""

from __future__ import annotations

from stylegan.memory import tune_allocator

tune_allocator()  # as the command line does, before torch is imported (bench/allocator.py measures it)

import argparse
import time

import torch

import stylegan

DEFAULT_PRESETS = ["stylegan-xl-tiny", "stylegan-xl-16", "stylegan-xl-32", "stylegan-xl-64"]


def seconds_per_image(G, batch: int, repeats: int, device: str) -> float:
    z = torch.randn([batch, G.z_dim], device=device)
    c = torch.zeros([batch, G.c_dim], device=device)
    if G.c_dim:
        c[:, 0] = 1
    with torch.no_grad():
        ws = G.mapping(z, c)
        G.synthesis(ws)  # warm-up
        times = []
        for _ in range(repeats):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            G.synthesis(ws)
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] / batch


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("presets", nargs="*", default=DEFAULT_PRESETS)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}, batch {args.batch}"
    )
    baseline = None
    for name in args.presets:
        G = stylegan.load(name, device=args.device)
        seconds = seconds_per_image(G, args.batch, args.repeats, args.device)
        baseline = baseline or seconds
        params = sum(p.numel() for p in G.parameters()) / 1e6
        print(
            f"{name:<20} {G.img_resolution:>5}px  num_ws {G.num_ws:>2}  {params:8.1f} M params  "
            f"{seconds * 1000:10.1f} ms/image  x{seconds / baseline:7.2f} vs {args.presets[0]}"
        )


if __name__ == "__main__":
    main()
