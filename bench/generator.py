"""Whole synthesis and inversion, fast ops against the reference, measured in the same process.

Synthesis of the layouts in bench/_layouts.py (StyleGAN-XL 64x64 and StyleGAN3-T 64x64 with 128 channels,
StyleGAN-XL 32x32 with 256 channels) at batch 1 and 4, and inversion steps per second of the bundled default
model and of the StyleGAN-XL 64x64 layout. STYLEGAN_OPS switches every op between 'fast' and 'ref', and
STYLEGAN_NATIVE=0 gives a third column, the fast path without its compiled kernels (filtered_lrelu and the
Winograd 3x3 convolution); runs alternate between them and the minimum of the repeats is kept, since a shared
machine adds noise.

    OMP_NUM_THREADS=1 .venv/bin/python bench/generator.py [--repeats 5] [--steps 5] [--batches 1 4]

--cuda measures the synthesis of the ImageNet StyleGAN-XL layouts (random weights) on the GPU instead: ms per
image at batch 1 and images per second at --batch (halved until it fits in memory), in fp32 (force_fp32) and
fp16 (the layers the model marks use_fp16), the Triton kernels (fast) beside the reference (ref). Each figure
is the median of up to --repeats interleaved runs within --seconds, after a first call timed on its own: that
one compiles the Triton kernels of the shapes the process has not seen yet. Beside each fast figure: the FLOP/s
of the modulated convolutions (2 * in * out * k^2 per output pixel of each layer's convolution, per image; the
affines, the modulation and the filters are not counted) and its share of the GPU's dense peak (PEAK_TFLOPS).
With --startup it compares instead, in fp16 at batch 1 on the fast path, eager synthesis with a captured CUDA
graph and torch.compile(G.synthesis): start-up seconds and steady ms.

    .venv/bin/python bench/generator.py --cuda [--layouts stylegan-xl-256 ...] [--batch 32] [--seconds 2]
        [--repeats 5] [--startup]
"""

from __future__ import annotations

from stylegan.memory import tune_allocator

tune_allocator()  # as the command line does, before torch is imported (bench/allocator.py measures it)

import argparse
import statistics
import sys
import time
from functools import partial

import torch
from _layouts import CUDA_LAYOUTS, LAYOUTS, cuda_seconds, implementation, layout_generator, named_generator

import stylegan
from stylegan.inversion import Projector
from stylegan.latent import one_hot
from stylegan.networks.generator import Generator
from stylegan.ops import _dispatch
from stylegan.perceptual import ReconstructionLoss

IMPLEMENTATIONS = ("fast", "ref")
# On the CPU also the fast path without its compiled kernels: the PyTorch passes and convolutions alone.
CPU_IMPLEMENTATIONS = ("fast", "pytorch", "ref")

# Dense (no sparsity) peak TFLOP/s per GPU: fp16 on the tensor cores with fp32 accumulation, tf32 on the tensor
# cores, fp32 on the CUDA cores; from NVIDIA's H100, H200 and A100 datasheets at boost clock, the sparsity figures
# halved. The H200 is the H100's chip with more memory. The SXM parts report as 'NVIDIA H100 80GB HBM3' and
# 'NVIDIA H200'; the first key found in torch.cuda.get_device_name() applies, so the longer names come first.
PEAK_TFLOPS = {
    "H100 PCIe": dict(fp16=756.0, tf32=378.0, fp32=51.2),
    "H100 NVL": dict(fp16=835.5, tf32=417.5, fp32=60.0),
    "H200 NVL": dict(fp16=835.5, tf32=417.5, fp32=60.0),
    "H100": dict(fp16=989.4, tf32=494.7, fp32=66.9),
    "H200": dict(fp16=989.4, tf32=494.7, fp32=66.9),
    "A100": dict(fp16=312.0, tf32=156.0, fp32=19.5),
}


def alternating_min(function, repeats: int) -> dict[str, float]:
    """Seconds per call of function() under each CPU implementation, the minimum over interleaved repeats."""
    best = dict.fromkeys(CPU_IMPLEMENTATIONS, float("inf"))
    for impl in best:  # warm-up
        with implementation(impl):
            function()
    for _ in range(repeats):
        for impl in best:
            with implementation(impl):
                start = time.perf_counter()
                function()
                best[impl] = min(best[impl], time.perf_counter() - start)
    return best


def synthesis(batches: list[int], repeats: int) -> None:
    for name in LAYOUTS:
        G = layout_generator(name)
        for batch in batches:
            z = torch.randn([batch, G.z_dim], generator=torch.Generator().manual_seed(0))
            c = torch.zeros([batch, G.c_dim])
            with torch.no_grad():
                ws = G.mapping(z, c)
                best = alternating_min(lambda G=G, ws=ws: G.synthesis(ws), repeats)
            print(f"  {name:<24} batch {batch}:  fast {best['fast'] * 1e3:8.1f} ms  ref {best['ref'] * 1e3:8.1f} ms  "
                  f"x{best['ref'] / best['fast']:5.2f}   without the compiled kernels {best['pytorch'] * 1e3:8.1f} ms  "
                  f"x{best['ref'] / best['pytorch']:5.2f}")  # fmt: skip


INVERSION_LAYOUT = "stylegan-xl 64x64 c128"


def inversion(steps: int, repeats: int) -> None:
    """Inversion steps per second of the bundled default model and of the StyleGAN-XL 64x64 layout."""
    for name, G in (
        ("default model", stylegan.load("default")),
        (INVERSION_LAYOUT, layout_generator(INVERSION_LAYOUT)),
    ):
        target = torch.rand([1, G.img_channels, G.img_resolution, G.img_resolution]) * 2 - 1
        projector = Projector(G, target, ReconstructionLoss(None), class_index=0, num_steps=10**6)

        def run(projector=projector):
            for _ in range(steps):
                projector.step()

        best = alternating_min(run, repeats)
        fast, ref, pytorch = (steps / best[impl] for impl in ("fast", "ref", "pytorch"))
        print(f"  {name} ({G.img_resolution}x{G.img_resolution}), w+, pixel+ms-ssim loss:  "
              f"fast {fast:6.2f} steps/s  ref {ref:6.2f} steps/s  x{fast / ref:5.2f}   "
              f"without the compiled kernels {pytorch:6.2f} steps/s  x{pytorch / ref:5.2f}")  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# --cuda


def conv_flops(G: Generator) -> int:
    """Multiply-adds times 2 of the modulated convolutions of one image's synthesis, from the layer specs."""
    total = 0
    for name in G.synthesis.layer_names:
        layer = getattr(G.synthesis, name)
        k = layer.conv_kernel
        out_size = layer.spec.in_size + k - 1  # padded by k - 1 on each side
        total += 2 * layer.in_channels * layer.out_channels * k * k * out_size**2
    return total


def peak_tflops(device_name: str) -> dict[str, float] | None:
    return next((peak for key, peak in PEAK_TFLOPS.items() if key in device_name), None)


def mapped(G: Generator, batch: int) -> torch.Tensor:
    """ws of `batch` fixed latents of class 0, on G's device."""
    z = torch.randn([batch, G.z_dim], generator=torch.Generator().manual_seed(0)).to(G.device)
    with torch.no_grad():
        return G.mapping(z, one_hot([0] * batch, G.c_dim, G.device))


def time_impls(function, repeats: int, seconds: float) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds of the first call of function() under each implementation, and the median of up to `repeats`
    interleaved calls after it, stopped once `seconds` have passed (one call each at least)."""
    first, runs = {}, {impl: [] for impl in IMPLEMENTATIONS}
    with torch.no_grad():
        for impl in IMPLEMENTATIONS:
            with implementation(impl):
                first[impl] = cuda_seconds(function)
        deadline = time.perf_counter() + seconds
        while len(runs["fast"]) < repeats and (not runs["fast"] or time.perf_counter() < deadline):
            for impl in IMPLEMENTATIONS:
                with implementation(impl):
                    runs[impl].append(cuda_seconds(function))
    return first, {impl: statistics.median(values) for impl, values in runs.items()}


def fitting_batch(G: Generator, batch: int, force_fp32: bool, repeats: int, seconds: float):
    """(batch, median seconds per impl) at `batch`, or at the largest halving of it that fits in memory."""
    while True:
        ws = mapped(G, batch)
        try:
            _, median = time_impls(partial(G.synthesis, ws, force_fp32=force_fp32), repeats, seconds)
            return batch, median
        except torch.cuda.OutOfMemoryError:
            if batch == 1:
                raise
        del ws
        torch.cuda.empty_cache()
        batch //= 2


def roofline(flops: float, seconds: float, peak: float | None, peak_name: str) -> str:
    achieved = flops / seconds / 1e12
    share = f" = {achieved / peak:6.1%} of the {peak_name} peak" if peak else ""
    return f"conv {achieved:6.1f} TFLOP/s{share}"


def cuda_speed(G: Generator, name: str, batch: int, repeats: int, seconds: float, peaks) -> None:
    layers = [getattr(G.synthesis, layer) for layer in G.synthesis.layer_names]
    flops = conv_flops(G)
    print(f"\n{name}: {G.img_resolution}x{G.img_resolution}, {len(layers)} layers "
          f"({sum(layer.use_fp16 for layer in layers)} marked fp16), "
          f"{flops / 1e12:.2f} TFLOP of modulated convolutions per image")  # fmt: skip
    tf32 = torch.backends.cudnn.allow_tf32
    for dtype in ("fp32", "fp16"):
        force_fp32 = dtype == "fp32"
        peak_name = dtype if dtype == "fp16" else ("tf32" if tf32 else "fp32")
        peak = None if peaks is None else peaks[peak_name]
        synthesis = partial(G.synthesis, mapped(G, 1), force_fp32=force_fp32)
        first, median = time_impls(synthesis, repeats, seconds)
        print(f"  {dtype} first call   fast {first['fast']:8.2f} s         ref {first['ref']:8.2f} s"
              f"          (fast compiles the Triton kernels of shapes not seen before)")  # fmt: skip
        print(f"  {dtype} batch {1:>3}   fast {median['fast'] * 1e3:8.2f} ms/image  "
              f"ref {median['ref'] * 1e3:8.2f} ms/image  x{median['ref'] / median['fast']:5.2f}   "
              f"{roofline(flops, median['fast'], peak, peak_name)}")  # fmt: skip
        try:
            fitted, median = fitting_batch(G, batch, force_fp32, repeats, seconds)
        except torch.cuda.OutOfMemoryError:
            print(f"  {dtype} batch 1 ran out of memory")
            continue
        fast, ref = fitted / median["fast"], fitted / median["ref"]
        note = "" if fitted == batch else f" ({batch} ran out of memory)"
        print(f"  {dtype} batch {fitted:>3}   fast {fast:8.2f} images/s  "
              f"ref {ref:8.2f} images/s  x{fast / ref:5.2f}   "
              f"{roofline(flops * fitted, median['fast'], peak, peak_name)}{note}")  # fmt: skip


def graphed(G: Generator, ws: torch.Tensor):
    """A function that replays an fp16 synthesis of ws captured in a CUDA graph, after warm-up on a side stream."""
    static = ws.clone()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            G.synthesis(static, force_fp32=False)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = G.synthesis(static, force_fp32=False)

    def replay() -> torch.Tensor:
        static.copy_(ws)
        graph.replay()
        return out

    return replay


def compiled(G: Generator, ws: torch.Tensor):
    synthesis = torch.compile(G.synthesis)
    return lambda: synthesis(ws, force_fp32=False)


def cuda_startup(G: Generator, name: str, repeats: int) -> None:
    """Eager, CUDA-graph and torch.compile synthesis in fp16 at batch 1: start-up and steady state."""
    print(f"\n{name}: fp16, batch 1, fast path; start-up = making the callable and its first call")
    ws = mapped(G, 1)
    variants = (
        ("eager", lambda: partial(G.synthesis, ws, force_fp32=False)),
        ("CUDA graph", lambda: graphed(G, ws)),
        ("torch.compile", lambda: compiled(G, ws)),
    )
    eager = None
    with implementation("fast"), torch.no_grad():
        for variant, make in variants:
            try:
                torch.cuda.synchronize()
                start = time.perf_counter()
                run = make()
                out = run()
                torch.cuda.synchronize()
                startup = time.perf_counter() - start
                steady = statistics.median(cuda_seconds(run) for _ in range(repeats))
                if variant == "eager":
                    eager = out.clone()
                difference = (
                    "" if eager is None else f"   max |image - eager| {(out - eager).abs().max():.1e}"
                )
                print(
                    f"  {variant:<14} start-up {startup:7.2f} s   steady {steady * 1e3:8.2f} ms{difference}"
                )
            except Exception as error:
                message = (str(error).strip().splitlines() or [""])[0][:300]
                print(f"  {variant:<14} failed: {type(error).__name__}: {message}")


def cuda_report(args) -> int:
    if not torch.cuda.is_available():
        print(f"CUDA is not available (torch {torch.__version__}, CUDA build {torch.version.cuda}): "
              f"nothing measured")  # fmt: skip
        return 2
    try:
        import triton

        triton_version = triton.__version__
    except Exception as error:
        triton_version = f"missing ({type(error).__name__})"
    device = torch.device("cuda")
    device_name = torch.cuda.get_device_name(device)
    peaks = peak_tflops(device_name)
    memory = torch.cuda.get_device_properties(device).total_memory / 2**30
    print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), triton {triton_version}, {device_name} "
          f"({memory:.0f} GiB), cuDNN TF32 {'on' if torch.backends.cudnn.allow_tf32 else 'off'}; "
          f"median of up to {args.repeats} interleaved runs within {args.seconds:g} s after a first call; "
          f"synthesis only (mapping not timed); xN = how many times faster fast is than ref")  # fmt: skip
    if peaks is None:
        print(f"no peak FLOP/s on record for {device_name}: achieved TFLOP/s only")
    else:
        print("dense peak TFLOP/s assumed: " + ", ".join(f"{key} {value:g}" for key, value in peaks.items()))
    for dtype in (torch.float32, torch.float16):  # cuDNN's start-up, so no first call below carries it
        torch.nn.functional.conv2d(torch.zeros([1, 8, 8, 8], device=device, dtype=dtype),
                                   torch.zeros([8, 8, 3, 3], device=device, dtype=dtype))  # fmt: skip
    reported = set()
    for name in args.layouts:
        G = named_generator(name).to(device)
        if args.startup:
            cuda_startup(G, name, args.repeats)
        else:
            cuda_speed(G, name, args.batch, args.repeats, args.seconds, peaks)
        del G
        torch.cuda.empty_cache()
        for op, reason in _dispatch._disabled.items() - reported:
            print(f"the Triton kernel of {op} was switched off ({reason}); 'fast' is 'ref' after that")
        reported.update(_dispatch._disabled.items())
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="inversion steps per timed run")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--cuda", action="store_true", help="the GPU benchmark (see above) instead")
    parser.add_argument("--layouts", nargs="+", default=list(CUDA_LAYOUTS), help="--cuda: preset names")
    parser.add_argument("--batch", type=int, default=32, help="--cuda: the throughput batch")
    parser.add_argument("--seconds", type=float, default=2.0, help="--cuda: time per measurement")
    parser.add_argument("--startup", action="store_true", help="--cuda: eager vs CUDA graph vs torch.compile")
    args = parser.parse_args()
    if args.cuda:
        sys.exit(cuda_report(args))
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, min of {args.repeats} interleaved runs"
    )
    print("synthesis")
    synthesis(args.batches, args.repeats)
    print("inversion")
    inversion(args.steps, args.repeats)


if __name__ == "__main__":
    main()
