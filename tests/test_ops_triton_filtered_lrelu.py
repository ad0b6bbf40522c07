"""The fused Triton filtered_lrelu against the PyTorch reference: values and the gradients of x and b (second
order too), for the layers the network presets build (StyleGAN-XL and StyleGAN3-T/R: up 2 and 4, separable and
radial filters, cropping, ToRGB) and for hand-written edge cases (no filters, no bias, no clamp, 2-D and
asymmetric filters, flip_filter, odd sizes, factor 4, samples that reach no output), in float32 and float16.

Without CUDA, triton's interpreter runs the kernel on small CPU tensors (TRITON_INTERPRET=1 is set below,
before the kernel module is imported: triton reads it when a kernel is defined). With CUDA the interpreter
stays off and the `gpu` variants run the comparisons compiled, with more channels and at the layers' real
sizes.
"""

# ruff: noqa: E402 (triton_testing sets the interpreter's environment variable before the kernels are imported)
import dataclasses
import importlib
import math

import pytest
import torch
from triton_testing import CPU, CUDA, INTERPRETED, count_launches

pytest.importorskip("triton")

from stylegan.networks.alias_free import SynthesisLayer
from stylegan.networks.presets import preset_config
from stylegan.networks.specs import LayerSpec
from stylegan.ops.filtered_lrelu import _filtered_lrelu_ref
from stylegan.ops.triton import filtered_lrelu as kernel_module
from stylegan.ops.upfirdn2d import setup_filter

if INTERPRETED and not kernel_module._INTERPRETED:  # imported before the variable was set: define it again
    kernel_module = importlib.reload(kernel_module)

FLOAT32_TOLERANCE = 2e-5  # relative to the largest expected magnitude


@pytest.fixture
def launches(monkeypatch):
    return count_launches(monkeypatch, kernel_module, "_filtered_lrelu_kernel")["_filtered_lrelu_kernel"]


def _call(fn, x, b, args):
    return fn(x, args["fu"], args["fd"], b, *(args[k] for k in ("up", "down", "padding", "gain", "slope")),
              args["clamp"], args["flip_filter"])  # fmt: skip


def _run(fn, x, b, args, grad_out=None):
    """fn's output and, for a given output gradient, the gradients of x and b."""
    x = x.detach().requires_grad_()
    b = None if b is None else b.detach().requires_grad_()
    out = _call(fn, x, b, args)
    if grad_out is None:
        return out.detach(), None, None
    out.backward(grad_out.to(out.dtype))
    return out.detach(), x.grad, None if b is None else b.grad


def _args_to(args, to):
    return {k: v.to(to) if isinstance(v, torch.Tensor) else v for k, v in args.items()}


def _exact(x, b, args, grad_out=None):
    """The reference in float64, of the very values the kernel sees."""
    wide = None if grad_out is None else grad_out.double()
    return _run(
        _filtered_lrelu_ref,
        x.double(),
        None if b is None else b.double(),
        _args_to(args, torch.float64),
        wide,
    )


def _relative_error(actual, expected) -> float:
    return ((actual.double() - expected).abs().max() / expected.abs().max().clamp(min=1e-30)).item()


def _check(launches, x, b, args, dtype, seed=0):
    """Kernel against the float64 reference: float32 to FLOAT32_TOLERANCE, float16 as close as the reference's
    own float16 result (which rounds after every step) or closer. Both passes must have run the kernel."""
    x, b = x.to(dtype), None if b is None else b.to(dtype)
    shape = _exact(x, b, args)[0].shape
    grad_out = torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(x.device, dtype)
    expected = _exact(x, b, args, grad_out)
    actual = _run(kernel_module.filtered_lrelu, x, b, args, grad_out)
    assert launches.launches == 2
    bounds = [FLOAT32_TOLERANCE] * 3
    if dtype == torch.float16:
        narrow = _run(_filtered_lrelu_ref, x, b, args, grad_out)
        bounds = [
            2 * _relative_error(n, e) + 1e-3 if n is not None else 0
            for n, e in zip(narrow, expected, strict=True)
        ]
    for what, a, e, bound in zip(["out", "grad x", "grad b"], actual, expected, bounds, strict=True):
        if e is None:
            assert a is None, what
            continue
        assert a.dtype == dtype and a.shape == e.shape, what
        assert _relative_error(a, e) <= bound, f"{what}: {_relative_error(a, e):.2e} > {bound:.2e}"


# ---------------------------------------------------------------------------------------------------------
# The layers of the presets


def _layer_args(preset: str, name: str) -> tuple[int, dict]:
    """A real layer's input size and filtered_lrelu arguments, as SynthesisLayer.forward passes them."""
    layers = preset_config(preset)["synthesis_kwargs"]["layers"]
    spec = next(LayerSpec(**layer) for layer in layers if layer["name"] == name)
    layer = SynthesisLayer(4, dataclasses.replace(spec, in_channels=2, out_channels=2))  # filters only
    args = dict(
        fu=layer.up_filter,
        fd=layer.down_filter,
        up=layer.up_factor,
        down=layer.down_factor,
        padding=layer.padding,
        gain=1 if layer.is_torgb else math.sqrt(2),
        slope=1 if layer.is_torgb else 0.2,
        clamp=layer.conv_clamp,
        flip_filter=False,
    )
    return spec.in_size + layer.conv_kernel - 1, args


LAYERS = [
    ("stylegan-xl-tiny", "L0_36_64"),  # up 2, down 2, 12-tap separable filters
    ("stylegan-xl-tiny", "L6_52_64"),  # up 4: 24 taps
    ("stylegan-xl-tiny", "L8_32_64"),  # critically sampled: crops 54 -> 32
    ("stylegan-xl-tiny", "L9_32_3"),  # ToRGB: no filters, linear, clamp only
    ("stylegan3-r-1024", "L0_36_1024"),  # radial (2-D) downsampling filter
    ("stylegan3-r-1024", "L2_52_1024"),  # up 4 with a radial filter
]
LARGE_LAYERS = [  # real sizes, on the GPU only
    ("stylegan3-t-1024", "L10_1044_81"),
    ("stylegan3-t-1024", "L13_1024_32"),
    ("stylegan3-r-1024", "L11_1044_102"),
]


def _layer_inputs(size, args, batch, channels, device, seed):
    """Inputs large enough that the clamp is hit in places."""
    generator = torch.Generator().manual_seed(seed)
    scale = args["clamp"] / 2 if args["clamp"] else 1.0
    x = torch.randn([batch, channels, size, size], generator=generator) * scale
    b = torch.randn([channels], generator=generator) * scale
    return x.to(device), b.to(device), _args_to(args, device)


@pytest.mark.parametrize("device", [CPU, CUDA])
@pytest.mark.parametrize("preset, name", LAYERS)
def test_network_layers_float32(device, preset, name, launches):
    size, args = _layer_args(preset, name)
    batch, channels = (1, 2) if device == "cpu" else (4, 16)
    x, b, args = _layer_inputs(size, args, batch, channels, device, seed=len(name))
    _check(launches, x, b, args, torch.float32)


@pytest.mark.parametrize("device", [CPU, CUDA])
@pytest.mark.parametrize("preset, name", [LAYERS[0], LAYERS[5]])
def test_network_layers_float16(device, preset, name, launches):
    size, args = _layer_args(preset, name)
    batch, channels = (1, 2) if device == "cpu" else (4, 16)
    x, b, args = _layer_inputs(size, args, batch, channels, device, seed=3)
    _check(launches, x, b, args, torch.float16)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("preset, name", LARGE_LAYERS)
def test_large_layers_gpu(preset, name, dtype, launches):
    size, args = _layer_args(preset, name)
    x, b, args = _layer_inputs(size, args, 2, 4, "cuda", seed=5)
    _check(launches, x, b, args, dtype)


# ---------------------------------------------------------------------------------------------------------
# Edge cases


def _lowpass(shape, generator):
    """Asymmetric positive taps that sum to 1: flip_filter and every tap position matter."""
    f = torch.rand(shape, generator=generator) + 0.1
    return f / f.sum()


def _edge_case(case: str):
    """(x shape, with bias, filtered_lrelu arguments) of a named case."""
    g = torch.Generator().manual_seed(sum(map(ord, case)))
    base = dict(fu=None, fd=None, up=1, down=1, padding=[0, 0, 0, 0], gain=math.sqrt(2), slope=0.2)
    base.update(clamp=None, flip_filter=False)
    cases = {
        "identity": ([2, 3, 5, 7], False, dict(gain=1.0, slope=1.0)),
        "activation only, padded": ([2, 3, 5, 7], True, dict(padding=[1, 0, 0, 2], clamp=0.5)),
        "short 2-D up filter, flipped": (
            [1, 2, 7, 10],
            True,
            dict(fu=setup_filter(_lowpass([4], g)), up=2, padding=[2, 1, 1, 2], clamp=0.7, flip_filter=True),
        ),
        "downsampling only": ([1, 2, 9, 6], True, dict(fd=_lowpass([5], g), down=2, padding=[1, 2, 0, 3])),
        "no down filter: skipped samples": (
            [1, 2, 9, 6],
            True,
            dict(fu=_lowpass([5], g), up=2, down=2, padding=[1, 2, 0, 3], clamp=0.6),
        ),
        "factor 4, cropped, flipped": (
            [1, 2, 9, 11],
            True,
            dict(
                fu=_lowpass([9], g),
                fd=_lowpass([7], g),
                up=4,
                down=4,
                padding=[-3, 2, 5, -1],
                flip_filter=True,
            ),
        ),
        "full-rank 2-D down filter, relu": (
            [2, 2, 8, 7],
            True,
            dict(fu=_lowpass([6], g), fd=_lowpass([5, 4], g), up=2, down=2, padding=[3, 2, 1, 4], slope=0.0),
        ),
        "inputs that reach no output": (
            [1, 2, 8, 9],
            True,
            dict(fu=_lowpass([4], g), up=2, down=1, padding=[-7, 0, 1, -9], gain=1.7, clamp=0.8),
        ),
    }
    shape, with_bias, changes = cases[case]
    x = torch.randn(shape, generator=g)
    b = torch.randn([shape[1]], generator=g) if with_bias else None
    return x, b, {**base, **changes}


EDGE_CASES = [
    "identity",
    "activation only, padded",
    "short 2-D up filter, flipped",
    "downsampling only",
    "no down filter: skipped samples",
    "factor 4, cropped, flipped",
    "full-rank 2-D down filter, relu",
    "inputs that reach no output",
]


def _on(device, x, b, args):
    return x.to(device), None if b is None else b.to(device), _args_to(args, device)


@pytest.mark.parametrize("device", [CPU, CUDA])
@pytest.mark.parametrize("case", EDGE_CASES)
def test_edge_cases(device, case, launches):
    _check(launches, *_on(device, *_edge_case(case)), torch.float32)


@pytest.mark.parametrize("device", [CPU, CUDA])
def test_edge_case_float16(device, launches):
    _check(launches, *_on(device, *_edge_case("factor 4, cropped, flipped")), torch.float16)


@pytest.mark.parametrize("device", [CPU, CUDA])
def test_a_2d_filter_changed_in_place_is_decomposed_again(device, launches):
    x, b, args = _on(device, *_edge_case("full-rank 2-D down filter, relu"))
    _check(launches, x, b, args, torch.float32)
    args["fd"].copy_(args["fd"].t().reshape(args["fd"].shape))  # the taps of the decomposition are stale
    launches.launches = 0
    _check(launches, x, b, args, torch.float32)


@pytest.mark.parametrize("device", [CPU, CUDA])
def test_second_order_gradients(device):
    """The gradient of (grad x, grad b) with respect to the output gradient, as the reference has it."""
    x, b, args = _on(device, *_edge_case("full-rank 2-D down filter, relu"))
    args["clamp"] = 0.5
    generator = torch.Generator().manual_seed(7)
    shape = _exact(x, b, args)[0].shape
    grad_out, v, w = (torch.randn(s, generator=generator).to(device) for s in (shape, x.shape, b.shape))

    def grad_of_grads(fn, dtype):
        xd, bd, dy = (t.to(dtype).requires_grad_() for t in (x, b, grad_out))
        gx, gb = torch.autograd.grad(
            _call(fn, xd, bd, _args_to(args, dtype)), [xd, bd], dy, create_graph=True
        )
        return torch.autograd.grad((gx * v.to(dtype)).sum() + (gb * w.to(dtype)).sum(), [dy])[0]

    expected = grad_of_grads(_filtered_lrelu_ref, torch.float64)
    assert _relative_error(grad_of_grads(kernel_module.filtered_lrelu, torch.float32), expected) <= 2e-5


# ---------------------------------------------------------------------------------------------------------
# The kernel runs, or the reference where it cannot


def test_the_kernel_runs_in_the_interpreter_here(launches):
    if not INTERPRETED:
        pytest.skip("CUDA is here: the kernel is compiled")
    from triton.runtime.interpreter import InterpretedFunction

    assert isinstance(launches.kernel, InterpretedFunction)
    x, b, args = _edge_case("no down filter: skipped samples")
    with torch.no_grad():
        out = _call(kernel_module.filtered_lrelu, x, b, args)  # one launch, that records nothing
    assert launches.launches == 1
    _, grad_x, _ = _run(kernel_module.filtered_lrelu, x, b, args, torch.ones_like(out))
    assert launches.launches == 3 and grad_x.abs().sum() > 0  # the forward pass and the backward pass


@pytest.mark.parametrize("device", [CPU, CUDA])
def test_trainable_filters_and_other_dtypes_take_the_reference(device, launches):
    x, b, args = _on(device, *_edge_case("downsampling only"))
    fd = args["fd"].clone().requires_grad_()
    out = kernel_module.filtered_lrelu(x, None, fd, b, 1, 2, args["padding"], math.sqrt(2), 0.2, None, False)
    out.sum().backward()
    assert fd.grad is not None and launches.launches == 0
    wide = {**args, "fd": args["fd"].double()}
    expected = _run(_filtered_lrelu_ref, x.double(), b.double(), wide)[0]
    actual = _run(kernel_module.filtered_lrelu, x.double(), b.double(), wide)[0]
    assert launches.launches == 0 and torch.equal(actual, expected)
