"""Write a small labelled image folder for trying the trainer: one subfolder per class, each class a colour of
discs on a contrasting background, at random places and sizes.

    .venv/bin/python tools/toy_images.py OUT_DIR [--per-class 32] [--size 64]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import PIL.Image
import PIL.ImageDraw

CLASSES = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (50, 70, 230)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-class", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for name, colour in CLASSES.items():
        folder = args.out / name
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(args.per_class):
            background = tuple(int(v) for v in rng.integers(0, 80, 3))
            image = PIL.Image.new("RGB", (args.size, args.size), background)
            draw = PIL.ImageDraw.Draw(image)
            radius = rng.uniform(0.15, 0.35) * args.size
            cx, cy = rng.uniform(radius, args.size - radius, 2)
            draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=colour)
            image.save(folder / f"{index:04d}.png")
    print(f"wrote {len(CLASSES) * args.per_class} images in {len(CLASSES)} classes to {args.out}")


if __name__ == "__main__":
    main()
