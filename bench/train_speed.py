"""Images per second of one training step (G main, D main, EMA; path length with --path-length) for a small config, against
the forward passes alone of the same generator and discriminator on the same batch, measured in the same run
(the baseline). The ratio says how much of the forward speed a full step keeps (backward passes, optimiser,
accumulation); it runs on CPU and, when present, on CUDA, each with and without bfloat16 autocast of D (on a CPU
only when it has native bfloat16).

    .venv/bin/python bench/train_speed.py [--batch 8] [--steps 5] [--resolution 16] [--backbones NAME,...]
        [--d-input-size 224] [--cmax 128] [--pretrained]
"""

from __future__ import annotations

from stylegan.memory import tune_allocator

tune_allocator()  # as the command line does, before torch is imported (bench/allocator.py measures it)

import argparse
import tempfile
import time
import zipfile
from io import BytesIO
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from stylegan.devices import cpu_has_bfloat16
from training.loop import Trainer
from training.options import TrainingOptions


def make_dataset(path: Path, resolution: int, count: int = 64, classes: int = 4) -> None:
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as archive:
        labels = []
        for index in range(count):
            buffer = BytesIO()
            pixels = rng.integers(0, 256, (resolution, resolution, 3), dtype=np.uint8)
            PIL.Image.fromarray(pixels).save(buffer, format="PNG")
            archive.writestr(f"{index:05d}.png", buffer.getvalue())
            labels.append([f"{index:05d}.png", index % classes])
        archive.writestr("dataset.json", __import__("json").dumps({"labels": labels}))


def timed(function, steps: int, device: torch.device) -> float:
    """Seconds per call, after one warm-up call."""
    function()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        function()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def training_options(data: Path, outdir: Path, device: str, amp: bool, args) -> TrainingOptions:
    """The small config this benchmark trains (also bench/allocator.py's training step)."""
    return TrainingOptions(
        data=str(data),
        outdir=str(outdir),
        batch=args.batch,
        cbase=8192,
        cmax=args.cmax,
        syn_layers=6,
        w_dim=128,
        backbones=args.backbones.split(","),
        pretrained=args.pretrained,
        d_input_size=args.d_input_size,
        cls_weight=0,
        pl_start_kimg=0 if args.path_length else 1e9,
        amp=amp,
        workers=0,
        device=device,
    )


def measure(data: Path, outdir: Path, device: str, amp: bool, args) -> tuple[float, float]:
    trainer = Trainer(training_options(data, outdir, device, amp, args), log=lambda _line: None)
    real, real_c = next(trainer._loader())

    def forward_only():
        with torch.no_grad():
            z = torch.randn([args.batch, trainer.G.z_dim], device=trainer.device)
            c = real_c.to(trainer.device)
            images = trainer.G(z, c)
            trainer.loss.discriminate(images, c, 0, None)

    step = timed(lambda: trainer.train_step(real, real_c), args.steps, trainer.device)
    forward = timed(forward_only, args.steps, trainer.device)
    return args.batch / step, args.batch / forward


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--resolution", type=int, default=16)
    parser.add_argument(
        "--path-length", action="store_true", help="include path-length regularisation (every 4th step)"
    )
    parser.add_argument("--backbones", default="tf_efficientnet_lite0,deit_base_distilled_patch16_224")
    parser.add_argument("--d-input-size", type=int, default=224, help="D's feature networks see this size")
    parser.add_argument("--cmax", type=int, default=128, help="the generator's widest layer")
    parser.add_argument("--pretrained", action="store_true", help="pretrained feature networks (lite0 ships)")
    args = parser.parse_args()
    configs = [("cpu", False)] + ([("cpu", True)] if cpu_has_bfloat16() else [])
    if torch.cuda.is_available():
        configs += [("cuda", False), ("cuda", True)]
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data.zip"
        make_dataset(data, args.resolution)
        print(
            f"stem {args.resolution}x{args.resolution}, batch {args.batch}, G cmax {args.cmax}, D over "
            f"{args.backbones} ({'pretrained' if args.pretrained else 'random'}) at {args.d_input_size} px"
        )
        for index, (device, amp) in enumerate(configs):
            train, forward = measure(data, Path(folder) / f"run{index}", device, amp, args)
            label = f"{device}{' bf16 D' if amp else ''}"
            print(
                f"{label:<12} train step {train:8.1f} img/s   forward only {forward:8.1f} img/s   "
                f"ratio {train / forward:.3f}"
            )


if __name__ == "__main__":
    main()
