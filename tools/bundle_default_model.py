"""Make the bundled default model from a finished training run: measure it, write its model card into the file.

    .venv/bin/python tools/bundle_default_model.py --snapshot runs/sr32/network-snapshot-....safetensors \
        --data runs/emoji32.zip --run runs/stem16:45.008 --run runs/sr32:20.160 \
        --command "stylegan dataset emoji ..." --command "stylegan train ..." ... \
        [--out stylegan/data/default.safetensors]

The metadata gets the class names, the commands, kimg and wall time per stage (from each run's stats.jsonl), the
device, and the quality figures of `training.quality` for the model, for a randomly initialised generator of the
same layout, and for the real data against itself.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import torch

import stylegan
from stylegan.networks.generator import Generator
from training.dataset import ImageDataset
from training.quality import evaluate_quality, quality_features


def stage_facts(run: Path, until_kimg: float | None = None) -> dict:
    """kimg and wall time of a run (all its resumed parts) up to the snapshot at `until_kimg` (default: its end),
    from its stats.jsonl and options. A tick after a resume from an earlier state counts as one tick of work."""
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines() if line.strip()]
    if until_kimg is not None:
        rows = rows[: max(i for i, row in enumerate(rows) if row["kimg"] <= until_kimg + 1e-6) + 1]
    options = json.loads((run / "training_options.json").read_text())
    seconds, previous_kimg, tick_kimg = 0.0, 0.0, rows[0]["kimg"]
    for row in rows:
        trained = row["kimg"] - previous_kimg
        seconds += row["sec_per_kimg"] * (trained if trained > 0 else tick_kimg)
        previous_kimg = row["kimg"]
    return dict(
        run=run.name,
        kimg=round(rows[-1]["kimg"], 3),
        wall_seconds=round(seconds),
        batch=options["batch"],
        d_input_size=options.get("d_input_size"),
        backbones=options["backbones"],
    )


def device_name() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU ({model}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--snapshot", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="the dataset at the model's resolution")
    parser.add_argument(
        "--run",
        action="append",
        default=[],
        help="a stage's run folder, in order (RUN or RUN:KIMG, the snapshot used)",
    )
    parser.add_argument("--command", action="append", default=[], help="a command that made it, in order")
    parser.add_argument("--samples-per-class", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("stylegan/data/default.safetensors"))
    args = parser.parse_args()

    G = stylegan.load(args.snapshot)
    dataset = ImageDataset(args.data)
    features = quality_features()
    report = evaluate_quality(G, dataset, args.samples_per_class, features=features)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        random_G = Generator(**G.config).eval()
    random_report = evaluate_quality(random_G, dataset, args.samples_per_class, features=features)
    quality = {
        **report.to_dict(),
        "random_init_class_accuracy": round(random_report.class_accuracy, 4),
        "random_init_frechet_distance": round(random_report.frechet_distance, 4),
        "feature_network": "tf_efficientnet_lite0 (ImageNet), pooled pre-logits, 128 px",
    }
    stages = [
        stage_facts(Path(run), float(kimg) if kimg else None)
        for run, _, kimg in (r.partition(":") for r in args.run)
    ]
    model_card = dict(
        description="StyleGAN-XL trained by `stylegan train` on emoji rendered from Noto Color Emoji",
        class_names=dataset.class_names,
        commands=args.command,
        stages=stages,
        total_kimg=round(sum(stage["kimg"] for stage in stages), 3),
        wall_seconds=sum(stage["wall_seconds"] for stage in stages),
        device=device_name(),
        quality=quality,
    )
    metadata = {key: value for key, value in G.metadata.items() if key != "training"}
    stylegan.save(G, args.out, **{**metadata, "source": "default", "model_card": model_card})
    size = args.out.stat().st_size / 1e6
    print(json.dumps(model_card, indent=2))
    print(f"wrote {args.out} ({size:.1f} MB)")


if __name__ == "__main__":
    main()
