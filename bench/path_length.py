"""Seconds per path-length regularisation step (the regulariser's forward, J^T y with create_graph, and the backward
of its penalty) of a training stem, with the weight gradients of the convolutions skipped (pl_no_weight_grad,
modulated convolutions non-fused) against the baseline measured in the same run: the same step with fused
modulated convolutions and every weight gradient computed, as before issue 13. On CPU, and on CUDA when present
(--device picks one or both).

    .venv/bin/python bench/path_length.py [--batch 8] [--steps 3] [--resolution 16] [--cbase 32768] [--cmax 512]
        [--layers 10] [--w-dim 512] [--device cpu cuda]
"""

from __future__ import annotations

from stylegan.memory import tune_allocator

tune_allocator()  # as the command line does, before torch is imported (bench/allocator.py measures it)

import argparse
import time

import torch

from stylegan.networks.generator import Generator
from training.loop import stem_config
from training.loss import LossOptions, StyleGANXLLoss
from training.options import TrainingOptions

CLASSES = 4


def regulariser_step(G: Generator, skip: bool, z: torch.Tensor, c: torch.Tensor):  # noqa: N803
    loss = StyleGANXLLoss(G, None, LossOptions(pl_weight=2, pl_no_weight_grad=skip))

    def step() -> None:
        G.zero_grad(set_to_none=True)
        loss.generator_path_length(z, c)[0].backward()

    return step


def seconds_per_call(function, steps: int, device: torch.device) -> float:
    """The best of `steps` calls, after one warm-up call."""
    function()
    best = float("inf")
    for _ in range(steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=8, help="the regulariser runs on half of it")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--resolution", type=int, default=16)
    parser.add_argument("--cbase", type=int, default=32768)
    parser.add_argument("--cmax", type=int, default=512)
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--w-dim", type=int, default=512)
    parser.add_argument(
        "--device", nargs="+", choices=["cpu", "cuda"], default=["cpu"] + ["cuda"] * torch.cuda.is_available()
    )
    args = parser.parse_args()
    if "cuda" in args.device and not torch.cuda.is_available():
        parser.error("CUDA is not available")
    options = TrainingOptions(
        data="", outdir="", cbase=args.cbase, cmax=args.cmax, syn_layers=args.layers, w_dim=args.w_dim
    )
    torch.manual_seed(0)
    G = Generator(**stem_config(options, args.resolution, 3, CLASSES)).train()  # noqa: N806
    print(
        f"stem {args.resolution}x{args.resolution}, {args.layers} layers, cbase {args.cbase}, cmax {args.cmax}, "
        f"w_dim {args.w_dim}; regulariser batch {args.batch // 2}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    for device in args.device:
        G.to(device)
        z = torch.randn([args.batch, G.z_dim], device=device)
        c = torch.eye(CLASSES, device=device)[torch.arange(args.batch, device=device) % CLASSES]
        full, skipped = (
            seconds_per_call(regulariser_step(G, skip, z, c), args.steps, torch.device(device))
            for skip in (False, True)
        )
        print(
            f"{device:<5} fused, all weight gradients {full * 1e3:9.1f} ms   non-fused, weight gradients "
            f"skipped {skipped * 1e3:9.1f} ms   ratio {full / skipped:.2f}x"
        )


if __name__ == "__main__":
    main()
