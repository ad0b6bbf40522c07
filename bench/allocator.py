"""What stylegan.memory.tune_allocator buys on the CPU: the same work in fresh processes with the process's
default allocator (the baseline), with each of its two settings alone, and with both (what the command line
and the visualizer use). The setting has to be made before torch is imported, hence one process per
configuration; the configurations take turns, round after round, and each figure is the minimum over the
rounds, since a shared machine adds noise.

Measured: the synthesis of the three layouts of bench/_layouts.py at batch 1 with the fast and the reference
ops, the first at batch 4 too, its largest filtered_lrelu layer (fast path), and one training step at 32x32
(batch 16, D over pretrained lite0 at 64 px, as in bench/train_speed.py), each with its page faults per call
(getrusage minor faults). Last, the synthesis as shipped (fast ops, both settings) against the reference ops
with the default allocator, which is how the official code runs.

    OMP_NUM_THREADS=2 .venv/bin/python bench/allocator.py [--rounds 3] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CONFIGURATIONS = {
    "default": {"STYLEGAN_ALLOCATOR": "default", "THP_MEM_ALLOC_ENABLE": "0"},
    "huge pages": {"STYLEGAN_ALLOCATOR": "default", "THP_MEM_ALLOC_ENABLE": "1"},
    "malloc": {"THP_MEM_ALLOC_ENABLE": "0"},  # tune_allocator keeps a THP setting that is already there
    "both": {},
}
SYNTHESIS_LAYOUTS = ("stylegan-xl 64x64 c128", "stylegan3-t 64x64 c128", "stylegan-xl 32x32 c256")
WORKLOADS = (
    "filtered_lrelu",
    *(f"{layout} b1 {ops}" for layout in SYNTHESIS_LAYOUTS for ops in ("fast", "ref")),
    "stylegan-xl 64x64 c128 b4 fast",
    "train step b16",
)


def worker(repeats: int) -> None:
    """Measure every workload in this process and print one JSON line of {workload: [seconds, faults]}."""
    from stylegan.memory import tune_allocator

    tuned = tune_allocator()
    import argparse
    import resource
    import tempfile
    import time

    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from _layouts import named_generator
    from generator import mapped
    from ops import layer_calls
    from train_speed import make_dataset, training_options

    from stylegan.ops._dispatch import ENV_VARIABLE
    from stylegan.ops.filtered_lrelu import filtered_lrelu
    from training.loop import Trainer

    def faults() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    def best(function) -> list[float]:
        function()  # warm-up: first-call work and the allocator's first growth
        seconds, fault_counts = [], []
        for _ in range(repeats):
            f0, t0 = faults(), time.perf_counter()
            function()
            seconds.append(time.perf_counter() - t0)
            fault_counts.append(faults() - f0)
        return [min(seconds), min(fault_counts)]

    results = {}
    with torch.no_grad():
        for layout in SYNTHESIS_LAYOUTS:
            G = named_generator(layout)
            for batch in (1, 4) if layout == SYNTHESIS_LAYOUTS[0] else (1,):
                ws = mapped(G, batch)
                for ops in ("fast", "ref") if batch == 1 else ("fast",):
                    os.environ[ENV_VARIABLE] = ops
                    results[f"{layout} b{batch} {ops}"] = best(lambda G=G, ws=ws: G.synthesis(ws))
        os.environ[ENV_VARIABLE] = "fast"
        _, kwargs = max(layer_calls(SYNTHESIS_LAYOUTS[0], 1), key=lambda call: call[1]["x_shape"][-1])
        kwargs = dict(kwargs)
        x = torch.randn(kwargs.pop("x_shape")) * 3
        results["filtered_lrelu"] = best(lambda: filtered_lrelu(x, **kwargs))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.zip"
        make_dataset(data, 32)
        config = argparse.Namespace(batch=16, cmax=128, backbones="tf_efficientnet_lite0", pretrained=True,
                                    d_input_size=64, path_length=False)  # fmt: skip
        options = training_options(data, Path(tmp) / "run", "cpu", True, config)
        trainer = Trainer(options, log=lambda _line: None)
        real, real_c = next(trainer._loader())
        results["train step b16"] = best(lambda: trainer.train_step(real, real_c))
    in_effect = [name for name, on in (("huge pages", os.environ.get("THP_MEM_ALLOC_ENABLE") == "1"),
                                       ("malloc", "malloc" in tuned)) if on]  # fmt: skip
    print(json.dumps({"in effect": in_effect, "results": results}))


def run_configuration(env: dict, repeats: int) -> dict:
    """The worker's report with exactly `env`'s allocator variables (none of this process's own)."""
    environment = {
        k: v for k, v in os.environ.items() if k not in ("STYLEGAN_ALLOCATOR", "THP_MEM_ALLOC_ENABLE")
    }
    environment.update(env)
    out = subprocess.run([sys.executable, __file__, "--worker", "--repeats", str(repeats)], env=environment,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.repeats)
        return
    best = {name: {w: [float("inf"), float("inf")] for w in WORKLOADS} for name in CONFIGURATIONS}
    in_effect = {}
    for _ in range(args.rounds):
        for name, env in CONFIGURATIONS.items():
            report = run_configuration(env, args.repeats)
            in_effect[name] = report["in effect"]
            for workload, (seconds, faults) in report["results"].items():
                old = best[name][workload]
                best[name][workload] = [min(old[0], seconds), min(old[1], faults)]
    threads = os.environ.get("OMP_NUM_THREADS", "all")
    print(f"minimum of {args.rounds} rounds x {args.repeats} calls, OMP_NUM_THREADS={threads}; "
          "ms per call (page faults per call), xN = default / this")  # fmt: skip
    print(f"  {'':30}" + "".join(f"{name:>26}" for name in CONFIGURATIONS))
    for workload in WORKLOADS:
        base = best["default"][workload][0]
        cells = []
        for name in CONFIGURATIONS:
            seconds, faults = best[name][workload]
            cells.append(f"{seconds * 1e3:9.1f} ({faults:>6.0f}) x{base / seconds:4.2f}")
        print(f"  {workload:30}" + "".join(f"{cell:>26}" for cell in cells))
    print(
        "as shipped (fast ops, both settings) against the reference ops with the default allocator, the way"
    )
    print("the official code runs:")
    for layout in SYNTHESIS_LAYOUTS:
        shipped, official = best["both"][f"{layout} b1 fast"][0], best["default"][f"{layout} b1 ref"][0]
        print(
            f"  {layout} batch 1: {shipped * 1e3:.1f} ms against {official * 1e3:.1f} ms, x{official / shipped:.2f}"
        )
    print("  in effect: " + "; ".join(f"{n}: {' + '.join(on) or 'neither'}" for n, on in in_effect.items()))


if __name__ == "__main__":
    main()
