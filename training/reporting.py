"""What a run tells about itself: its progress counters, one row of statistics per tick (stats.jsonl,
TensorBoard, a status line), its JSON files, and the names of its snapshots."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from training.fid import DISTANCE_NAMES


@dataclass
class Progress:
    """The counters of a run, saved in its training state."""

    cur_nimg: int = 0
    batch_idx: int = 0
    tick: int = 0
    tick_start_nimg: int = 0
    best_fid: float | None = None
    fid_history: list[float] = field(default_factory=list)


def snapshot_name(cur_nimg: int) -> str:
    """The kimg in snapshot names: 6 digits and 3 decimals (whole images), so that names sort and never collide."""
    return f"{cur_nimg / 1000:010.3f}"


def snapshot_kimg(path: Path) -> float:
    """network-snapshot-000012.345.safetensors -> 12.345 (names of older runs have whole kimg: -000012)."""
    try:
        return float(path.name.removeprefix("network-snapshot-").removesuffix(".safetensors"))
    except ValueError:
        return -1.0


def latest_snapshot(outdir: Path) -> Path | None:
    return max(outdir.glob("network-snapshot-*.safetensors"), key=snapshot_kimg, default=None)


def tick_row(progress: Progress, tick_stats: dict[str, list[float]], elapsed: float, total_nimg: int) -> dict:
    """The statistics of the tick that just ended: counters, speed, ETA and the mean of each step statistic."""
    tick_nimg = progress.cur_nimg - progress.tick_start_nimg
    images_per_sec = tick_nimg / max(elapsed, 1e-9)
    row = {
        "tick": progress.tick,
        "kimg": progress.cur_nimg / 1000,
        "sec_per_kimg": elapsed / max(tick_nimg / 1000, 1e-9),
        "images_per_sec": images_per_sec,
        "eta_sec": max(total_nimg - progress.cur_nimg, 0) / max(images_per_sec, 1e-9),
        "timestamp": time.time(),
    }
    row.update({key: float(np.mean(values)) for key, values in tick_stats.items()})
    return row


def status_line(row: dict) -> str:
    eta = time.strftime("%H:%M:%S", time.gmtime(row["eta_sec"])) if row["eta_sec"] < 86400 * 30 else "-"
    losses = "  ".join(
        f"{name} {row[key]:.3f}"
        for name, key in (
            ("G", "Loss/G/loss"),
            ("D", "Loss/D/loss"),
            *((distance, distance) for distance in DISTANCE_NAMES.values()),
        )
        if key in row
    )
    return (
        f"tick {row['tick']:<4d} kimg {row['kimg']:<8.3f} sec/kimg {row['sec_per_kimg']:<7.2f} "
        f"img/s {row['images_per_sec']:<7.1f} eta {eta}  {losses}"
    )


class RunLog:
    """The files and lines a run writes about itself in `outdir`. Only one process writes (`active`, rank 0)."""

    def __init__(self, outdir: Path, log: Callable[[str], None], active: bool = True):
        self.outdir, self.log, self.active = outdir, log, active
        self.writer = self._tensorboard() if active else None

    def _tensorboard(self):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.log("tensorboard is not installed: statistics go to stats.jsonl only")
            return None
        return SummaryWriter(str(self.outdir))

    def report(self, row: dict) -> None:
        """One tick: a line of stats.jsonl, TensorBoard scalars at the image count, the status line."""
        if not self.active:
            return
        with open(self.outdir / "stats.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.writer is not None:
            for key, value in row.items():
                if key not in ("tick", "kimg", "timestamp"):
                    self.writer.add_scalar(key, value, global_step=int(row["kimg"] * 1000))
            self.writer.flush()
        self.log(status_line(row))

    def write_json(self, name: str, data: dict) -> None:
        if self.active:
            with open(self.outdir / name, "w") as f:
                json.dump(data, f, indent=2)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
