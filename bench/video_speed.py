"""Frames per second of `stylegan video` (keyframe path -> ws -> images -> grid -> H.264 mp4), against
plain synthesis of the same number of images measured in the same run (the baseline: the generator alone).

The ratio is the share of the generator's own speed that the whole pipeline keeps; 1.0 means the path,
conversion and encoding cost nothing.

    .venv/bin/python bench/video_speed.py [--network stylegan-xl-tiny] [--frames 120] [--grid 1x1]
                                          [--batch 8] [--device cpu]
"""

from __future__ import annotations

from stylegan.memory import tune_allocator

tune_allocator()  # as the command line does, before torch is imported (bench/allocator.py measures it)

import argparse
import tempfile
import time
from pathlib import Path

import torch

import stylegan
from stylegan.images import parse_grid
from stylegan.latent import Endpoint, keyframe_path, map_to_w, one_hot, z_from_seeds
from stylegan.video import VideoWriter, path_frames


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--network", default="stylegan-xl-tiny")
    parser.add_argument(
        "--frames", type=int, default=120, help="frames per transition (4 keyframes, looping)"
    )
    parser.add_argument("--grid", default="1x1")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    columns, rows = parse_grid(args.grid)
    G = stylegan.load(args.network, device=args.device).eval()
    cells = [[Endpoint(seed=cell * 4 + k) for k in range(4)] for cell in range(columns * rows)]
    path = keyframe_path(4, args.frames // 4 or 1, "cubic", loop=True)
    images = path.num_frames * len(cells)
    print(f"torch {torch.__version__}, {args.device}, {torch.get_num_threads()} threads, {args.network} "
          f"{G.img_resolution}px, {path.num_frames} frames of {args.grid}, batch {args.batch}")  # fmt: skip

    with torch.no_grad():
        z = z_from_seeds(list(range(images)), G.z_dim, args.device)
        ws = map_to_w(G, z, one_hot([0] * images, G.c_dim, args.device))
        G.synthesis(ws[: args.batch])  # warm-up
        start = time.perf_counter()
        for chunk in ws.split(args.batch):
            G.synthesis(chunk)
        synthesis_seconds = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        with VideoWriter(Path(folder) / "bench.mp4") as writer:
            for frame in path_frames(G, cells, path, columns, rows, batch_size=args.batch):
                writer.write(frame)
        video_seconds = time.perf_counter() - start

    video_fps = path.num_frames / video_seconds
    synthesis_fps = path.num_frames / synthesis_seconds
    print(
        f"stylegan video   {video_fps:8.2f} frames/s  ({video_seconds / path.num_frames * 1000:.1f} ms/frame)"
    )
    print(
        f"synthesis alone  {synthesis_fps:8.2f} frames/s  ({synthesis_seconds / path.num_frames * 1000:.1f} ms/frame)"
    )
    print(f"ratio video / synthesis alone: x{video_fps / synthesis_fps:.3f}")


if __name__ == "__main__":
    main()
