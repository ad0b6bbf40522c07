"""UI frame time and render latency of the visualizer, asynchronous renderer against the synchronous one
(rendering inside the frame), measured in the same run.

Latency is the time from an argument change (a new seed) to its image on screen. Needs a display: on a
headless machine run it as `xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python bench/viz_latency.py`.

    .venv/bin/python bench/viz_latency.py [--network stylegan-xl-tiny] [--seconds 5] [--fps-limit 0]
"""

from __future__ import annotations

from stylegan.memory import tune_allocator

tune_allocator()  # as the command line does, before torch is imported (bench/allocator.py measures it)

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from viz.app import Visualizer  # noqa: E402
from viz.settings import Settings  # noqa: E402


def measure(network: str, threaded: bool, seconds: float, fps_limit: int) -> dict:
    app = Visualizer([network], threaded=threaded, settings=Settings(None), width=1280, height=800)
    app.set_vsync(False)
    app.fps_limit = fps_limit or None
    app.wait_for_result(timeout=600)
    frame_times, latencies = [], []
    seed = 0
    waiting_since = None
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or waiting_since is not None:
        if waiting_since is None:  # change the seed, then wait until its image is on screen
            seed += 1
            app.args.seed_x = float(seed)
            waiting_since = time.perf_counter()
            shown = app.result
        before = time.perf_counter()
        app.frame()
        frame_times.append(time.perf_counter() - before)
        if app.result is not shown and app.result.image is not None:
            latencies.append(time.perf_counter() - waiting_since)
            waiting_since = None
    app.close()
    return dict(frame=statistics.mean(frame_times), worst=max(frame_times), latency=statistics.median(latencies),
                frames=len(frame_times), images=len(latencies))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--network", default="stylegan-xl-tiny")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--fps-limit", type=int, default=0, help="0: frames as fast as they go")
    args = parser.parse_args()
    sync = measure(args.network, False, args.seconds, args.fps_limit)
    asynchronous = measure(args.network, True, args.seconds, args.fps_limit)
    print(f"{args.network}, fps limit {args.fps_limit or 'none'}")
    for name, row in (("synchronous", sync), ("asynchronous", asynchronous)):
        print(f"{name:<13} UI frame {row['frame'] * 1000:8.1f} ms ({1 / row['frame']:6.1f} FPS, worst "
              f"{row['worst'] * 1000:.0f} ms)   latency {row['latency'] * 1000:8.1f} ms   "
              f"({row['frames']} frames, {row['images']} images)")  # fmt: skip
    print(f"ratio async / sync: UI frame time x{asynchronous['frame'] / sync['frame']:.3f}, "
          f"latency x{asynchronous['latency'] / sync['latency']:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
