"""filtered_lrelu, fast path against the reference, at the layer shapes of the benchmark layouts.

Each distinct layer shape (channels, input size, up/down factors, filter taps, padding) of the layouts in
bench/_layouts.py is timed with impl='fast' and impl='ref', interleaved, and the minimum of the repeats is
kept, since a shared machine adds noise. Prints each shape's ms and ratio, and the ratio of the summed time of
every layer of each layout. Also the matrix form of upfirdn2d (the 'auto' path before the fused op) as a second
baseline.

    OMP_NUM_THREADS=1 .venv/bin/python bench/ops.py [--batch 1] [--repeats 7] [--backward]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import torch
from _layouts import LAYOUTS, layout_generator

from stylegan.ops.filtered_lrelu import _filtered_lrelu_ref, filtered_lrelu


def layer_calls(name: str, batch: int) -> list[tuple[tuple, dict]]:
    """(shape key, filtered_lrelu arguments) for every layer of a layout, inputs sized as the network's."""
    G = layout_generator(name)
    calls = []
    for layer_name in G.synthesis.layer_names:
        layer = getattr(G.synthesis, layer_name)
        size = layer.spec.in_size + layer.conv_kernel - 1  # the modulated convolution pads by kernel - 1
        kwargs = dict(
            fu=layer.up_filter,
            fd=layer.down_filter,
            b=layer.bias.detach(),
            up=layer.up_factor,
            down=layer.down_factor,
            padding=layer.padding,
            gain=1 if layer.is_torgb else 2**0.5,
            slope=1 if layer.is_torgb else 0.2,
            clamp=layer.conv_clamp,
        )
        key = (layer.out_channels, size, layer.up_factor, layer.down_factor,
               0 if layer.up_filter is None else layer.up_filter.shape[0], tuple(layer.padding))  # fmt: skip
        calls.append((key, dict(kwargs, x_shape=(batch, layer.out_channels, size, size))))
    return calls


def timed_min(functions: dict, repeats: int) -> dict[str, float]:
    for function in functions.values():
        function()
    best = dict.fromkeys(functions, float("inf"))
    for _ in range(repeats):
        for name, function in functions.items():  # interleaved, so drifting load hits all alike
            start = time.perf_counter()
            function()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def measure(kwargs: dict, repeats: int, backward: bool) -> dict[str, float]:
    kwargs = dict(kwargs)
    x = torch.randn(kwargs.pop("x_shape")) * 3
    x.requires_grad_(backward)
    grad = None

    def run(op):
        def call():
            y = op(x)
            if backward:
                nonlocal grad
                (grad,) = torch.autograd.grad(y, x, torch.ones_like(y))

        return call

    extra = {k: kwargs.pop(k) for k in ("gain", "slope", "clamp")}
    fast = run(lambda x: filtered_lrelu(x, **kwargs, **extra, impl="fast"))
    ref = run(lambda x: filtered_lrelu(x, **kwargs, **extra, impl="ref"))
    matrix = run(lambda x: _filtered_lrelu_ref(x, **kwargs, **extra, flip_filter=False, impl="fast"))
    with torch.set_grad_enabled(backward):
        return timed_min(dict(fast=fast, ref=ref, matrix=matrix), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--backward", action="store_true", help="time forward + backward")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"{'forward+backward' if args.backward else 'forward'}, min of {args.repeats}")  # fmt: skip
    results: dict[tuple, dict[str, float]] = {}
    for layout in LAYOUTS:
        calls = layer_calls(layout, args.batch)
        counts = Counter(key for key, _ in calls)
        print(f"\n{layout}")
        print(
            f"  {'C':>4} {'size':>4} up dn taps padding            count   fast ms    ref ms  matrix ms  ref/fast"
        )
        totals = dict(fast=0.0, ref=0.0, matrix=0.0)
        for key, kwargs in {key: kwargs for key, kwargs in calls}.items():
            if key not in results:
                results[key] = measure(kwargs, args.repeats, args.backward)
            r = results[key]
            for name in totals:
                totals[name] += r[name] * counts[key]
            c, size, up, down, taps, padding = key
            print(f"  {c:>4} {size:>4} {up:>2} {down:>2} {taps:>4} {str(list(padding)):<20} {counts[key]:>3}  "
                  f"{r['fast'] * 1e3:8.2f}  {r['ref'] * 1e3:8.2f}  {r['matrix'] * 1e3:9.2f}  "
                  f"x{r['ref'] / r['fast']:6.2f}")  # fmt: skip
        print(f"  all layers: fast {totals['fast'] * 1e3:.1f} ms, ref {totals['ref'] * 1e3:.1f} ms "
              f"(x{totals['ref'] / totals['fast']:.2f}), matrix {totals['matrix'] * 1e3:.1f} ms "
              f"(x{totals['matrix'] / totals['fast']:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
