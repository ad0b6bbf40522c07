"""filtered_lrelu, fast path against the reference, at the layer shapes of the benchmark layouts.

Each distinct layer shape (channels, input size, up/down factors, filter taps, padding) of the layouts in
bench/_layouts.py is timed with impl='fast' and impl='ref', interleaved, and the minimum of the repeats is
kept, since a shared machine adds noise. Prints each shape's ms and ratio, and the ratio of the summed time of
every layer of each layout. On the CPU also the fast path without its compiled kernel (STYLEGAN_NATIVE=0: the
PyTorch passes alone) and the matrix form of upfirdn2d (the 'auto' path before the fused op).

    OMP_NUM_THREADS=1 .venv/bin/python bench/ops.py [--batch 1] [--repeats 7] [--backward]

--cuda runs fast (the fused Triton kernel) against ref on the GPU, in fp16 and fp32, at the layer shapes of the
layouts --layouts names (default the StyleGAN-XL 1024x1024 preset), timed with CUDA events; without the matrix
baseline, whose kernels would take as long again to compile. The first call of fast, which compiles the kernel
for the shape, is timed on its own; a shape no kernel tile fits is marked, since fast takes the reference there.
Issue 13 asks for ref/fast >= 10 at these shapes.

    .venv/bin/python bench/ops.py --cuda [--layouts stylegan-xl-1024 ...] [--dtypes fp16 fp32] [--backward]
"""

from __future__ import annotations

from stylegan.memory import tune_allocator

tune_allocator()  # as the command line does, before torch is imported (bench/allocator.py measures it)

import argparse
import sys
import time
from collections import Counter

import torch
from _layouts import LAYOUTS, cuda_seconds, implementation, named_generator

from stylegan.ops import _dispatch
from stylegan.ops.filtered_lrelu import _filtered_lrelu_ref, filtered_lrelu

DTYPES = {"fp16": torch.float16, "fp32": torch.float32}


def cpu_seconds(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def layer_calls(name: str, batch: int) -> list[tuple[tuple, dict]]:
    """(shape key, filtered_lrelu arguments) for every layer of a layout, inputs sized as the network's."""
    G = named_generator(name)
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


def timed_min(functions: dict, repeats: int, timer) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds of each function's first call, and its minimum over `repeats` interleaved calls after that."""
    first = {name: timer(function) for name, function in functions.items()}
    best = dict.fromkeys(functions, float("inf"))
    for _ in range(repeats):
        for name, function in functions.items():  # interleaved, so drifting load hits all alike
            best[name] = min(best[name], timer(function))
    return first, best


def measure(kwargs: dict, repeats: int, backward: bool, device: torch.device, dtype: torch.dtype):
    """(first-call seconds, minimum seconds) of fast, ref and on the CPU matrix, and whether fast has a kernel
    for the shape (None off CUDA)."""
    kwargs = dict(kwargs)
    x = (torch.randn(kwargs.pop("x_shape")) * 3).to(device, dtype)
    x.requires_grad_(backward)
    kwargs["b"] = kwargs["b"].to(device, dtype)
    kwargs["fu"], kwargs["fd"] = (None if f is None else f.to(device) for f in (kwargs["fu"], kwargs["fd"]))
    grad = None

    def run(op):
        def call():
            y = op(x)
            if backward:
                nonlocal grad
                (grad,) = torch.autograd.grad(y, x, torch.ones_like(y))

        return call

    extra = {k: kwargs.pop(k) for k in ("gain", "slope", "clamp")}
    functions = dict(
        fast=run(lambda x: filtered_lrelu(x, **kwargs, **extra, impl="fast")),
        ref=run(lambda x: filtered_lrelu(x, **kwargs, **extra, impl="ref")),
    )
    has_kernel = None
    if device.type == "cuda":
        from stylegan.ops.triton.filtered_lrelu import _setup  # imports triton

        has_kernel = _setup(x, **kwargs, **extra, flip_filter=False) is not None
    else:
        functions["pytorch"] = without_compiled_kernel(functions["fast"])
        functions["matrix"] = run(
            lambda x: _filtered_lrelu_ref(x, **kwargs, **extra, flip_filter=False, impl="fast")
        )
    timer = cuda_seconds if device.type == "cuda" else cpu_seconds
    with torch.set_grad_enabled(backward):
        first, best = timed_min(functions, repeats, timer)
    return first, best, has_kernel


def without_compiled_kernel(call):
    """call with the fast path's compiled CPU kernel switched off: its PyTorch passes alone."""

    def pytorch_only():
        with implementation("pytorch"):
            call()

    return pytorch_only


def report(layout: str, calls: list, repeats: int, backward: bool, device: torch.device, dtype: str, results):
    """The table of one layout's layer calls; `results` holds the measurements of shapes seen before."""
    counts = Counter(key for key, _ in calls)
    on_cuda = device.type == "cuda"
    print(f"\n{layout}" + (f", {dtype}" if on_cuda else ""))
    last = "  1st fast s" if on_cuda else " pytorch ms  matrix ms  ref/fast  ref/pytorch"
    print(f"  {'C':>4} {'size':>4} up dn taps padding            count   fast ms    ref ms{last}"
          + ("  ref/fast" if on_cuda else ""))  # fmt: skip
    totals = dict.fromkeys(("fast", "ref") if on_cuda else ("fast", "ref", "pytorch", "matrix"), 0.0)
    for key, kwargs in {key: kwargs for key, kwargs in calls}.items():
        if (key, dtype) not in results:
            results[key, dtype] = measure(kwargs, repeats, backward, device, DTYPES[dtype])
        first, r, has_kernel = results[key, dtype]
        for name in totals:
            totals[name] += r[name] * counts[key]
        c, size, up, down, taps, padding = key
        line = (f"  {c:>4} {size:>4} {up:>2} {down:>2} {taps:>4} {str(list(padding)):<20} {counts[key]:>3}  "
                f"{r['fast'] * 1e3:8.2f}  {r['ref'] * 1e3:8.2f}")  # fmt: skip
        if on_cuda:
            kernel = "" if has_kernel else "  no kernel tile: fast is ref"
            line += f"  {first['fast']:10.2f}  x{r['ref'] / r['fast']:6.2f}{kernel}"
        else:
            line += (f"  {r['pytorch'] * 1e3:9.2f}  {r['matrix'] * 1e3:9.2f}  x{r['ref'] / r['fast']:6.2f}"
                     f"  x{r['ref'] / r['pytorch']:9.2f}")  # fmt: skip
        print(line)
    summary = (f"  all layers: fast {totals['fast'] * 1e3:.1f} ms, ref {totals['ref'] * 1e3:.1f} ms "
               f"(x{totals['ref'] / totals['fast']:.2f})")  # fmt: skip
    if not on_cuda:
        summary += (f"; without the compiled kernel {totals['pytorch'] * 1e3:.1f} ms "
                    f"(ref x{totals['ref'] / totals['pytorch']:.2f}); matrix {totals['matrix'] * 1e3:.1f} ms "
                    f"(x{totals['matrix'] / totals['fast']:.2f} of fast)")  # fmt: skip
    print(summary)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--backward", action="store_true", help="time forward + backward")
    parser.add_argument("--cuda", action="store_true", help="on the GPU, fp16 and fp32 (see above)")
    parser.add_argument("--layouts", nargs="+", help="bench/_layouts.py names or presets")
    parser.add_argument("--dtypes", nargs="+", choices=DTYPES, default=list(DTYPES), help="--cuda: which")
    args = parser.parse_args()
    if args.cuda and not torch.cuda.is_available():
        print(
            f"CUDA is not available (torch {torch.__version__}, CUDA build {torch.version.cuda}): nothing measured"
        )
        sys.exit(2)
    device = torch.device("cuda" if args.cuda else "cpu")
    layouts = args.layouts or (["stylegan-xl-1024"] if args.cuda else list(LAYOUTS))
    where = torch.cuda.get_device_name(device) if args.cuda else f"{torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}, batch {args.batch}, "
          f"{'forward+backward' if args.backward else 'forward'}, min of {args.repeats}")  # fmt: skip
    results: dict[tuple, tuple] = {}
    for layout in layouts:
        calls = layer_calls(layout, args.batch)
        for dtype in args.dtypes if args.cuda else ["fp32"]:
            report(layout, calls, args.repeats, args.backward, device, dtype, results)
    for op, reason in _dispatch._disabled.items():
        print(f"the Triton kernel of {op} was switched off ({reason}); 'fast' is 'ref' after that")


if __name__ == "__main__":
    main()
