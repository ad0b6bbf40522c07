"""The Triton kernels of bias_act and upfirdn2d against the PyTorch references: values and gradients (second
order too) across activations, alpha, gain, clamp, layouts, up/down factors, filter kinds and sizes, paddings,
flip_filter and dtypes; the dispatch, and its fallback with one warning when a kernel cannot run.

Without CUDA, triton's interpreter runs the kernels on small CPU tensors (TRITON_INTERPRET=1 is set below, before
the kernel modules are imported: triton reads it when a kernel is defined). With CUDA the interpreter stays off
and the `gpu` variants run the same comparisons, compiled, at larger sizes.
"""

# ruff: noqa: E402 (triton_testing sets the interpreter's environment variable before the kernels are imported)
import itertools
import sys
import types
import warnings
import zlib
from functools import partial

import numpy as np
import pytest
import torch
from triton_testing import DEVICES, INTERPRETED, count_launches

pytest.importorskip("triton")

from stylegan.ops import _dispatch
from stylegan.ops.bias_act import ACTIVATIONS, _bias_act_ref, bias_act
from stylegan.ops.filtered_lrelu import _filtered_lrelu_ref, filtered_lrelu
from stylegan.ops.triton import bias_act as triton_bias_act
from stylegan.ops.triton import triton_available
from stylegan.ops.triton import upfirdn2d as triton_upfirdn2d
from stylegan.ops.upfirdn2d import (
    _upfirdn2d_ref,
    downsample2d,
    filter2d,
    setup_filter,
    upfirdn2d,
    upsample2d,
)

# A fallback inside a kernel's backward would hide behind a correct reference result: here it fails the test.
pytestmark = pytest.mark.filterwarnings("error::stylegan.ops._dispatch.TritonFallbackWarning")

TOLERANCE = {torch.float32: 2e-5, torch.float16: 2e-3}  # relative to the largest expected magnitude


def _assert_close(actual, expected, dtype, what=""):
    assert actual.dtype == dtype and actual.shape == expected.shape, what
    scale = max(1.0, expected.abs().max().item())
    tol = TOLERANCE[dtype]
    torch.testing.assert_close(actual.float(), expected.float(), rtol=tol, atol=tol * scale, msg=what)


def _assert_near(actual, narrow, what):
    """Close to the float16 reference, which rounds after every step."""
    scale = max(1.0, narrow.abs().max().item())
    torch.testing.assert_close(actual, narrow, rtol=1e-2, atol=1e-2 * scale, msg=what)


@pytest.fixture
def launches(monkeypatch):
    """The launch counters of every kernel, by name."""
    counters = count_launches(monkeypatch, triton_bias_act, "_forward_kernel", "_backward_kernel")
    counters.update(count_launches(monkeypatch, triton_upfirdn2d, "_upfirdn2d_kernel"))
    return counters


@pytest.fixture
def triton_on(monkeypatch):
    """Dispatch as on a CUDA machine: 'fast' takes the kernels on CPU tensors too (in the interpreter)."""
    monkeypatch.setattr(_dispatch, "TRITON_ON_CPU", True)
    monkeypatch.setattr(_dispatch, "_disabled", {})
    monkeypatch.delenv(_dispatch.ENV_VARIABLE, raising=False)


def test_the_kernels_run_in_the_interpreter_here(launches):
    if not INTERPRETED:
        pytest.skip("CUDA is here: the kernels are compiled")
    from triton.runtime.interpreter import InterpretedFunction

    assert triton_available()
    assert isinstance(launches["_forward_kernel"].kernel, InterpretedFunction)
    assert isinstance(launches["_upfirdn2d_kernel"].kernel, InterpretedFunction)
    triton_bias_act.bias_act(torch.ones(3), act="relu")
    triton_upfirdn2d.upfirdn2d(torch.ones(1, 1, 3, 3), torch.ones(2), up=2)
    assert launches["_forward_kernel"].launches == 1 and launches["_upfirdn2d_kernel"].launches == 2


# ---------------------------------------------------------------------------------------------------------
# bias_act


def _bias_act_cases(device):
    """(shape, dim, with bias, layout, alpha, gain, clamp): a small set on the CPU, larger on CUDA."""
    image = [2, 3, 5, 4] if device == "cpu" else [8, 64, 32, 32]
    return [
        (image, 1, True, "contiguous", None, None, None),
        (image, 1, True, "channels_last", 0.3, 0.7, 0.9),
        ([image[0], image[1] * 3], -1, True, "transposed", None, 1.9, 1.2),  # a strided view: copied
        (image, 2, False, "contiguous", None, None, 0.5),
        ([7], 0, True, "contiguous", 0.05, 1.0, None),
    ]


def _layout(x, layout):
    if layout == "channels_last":
        return x.contiguous(memory_format=torch.channels_last)
    if layout == "transposed":
        return x.t().contiguous().t()
    return x


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize("act", list(triton_bias_act.ACT_CODES))
def test_bias_act_kernel_matches_the_reference_with_gradients(device, dtype, act):
    rng = np.random.default_rng(zlib.crc32(act.encode()))
    for shape, dim, with_bias, layout, alpha, gain, clamp in _bias_act_cases(device):
        what = f"{act} {shape} dim={dim} {layout} alpha={alpha} gain={gain} clamp={clamp}"
        x = _layout(torch.from_numpy(rng.standard_normal(shape) * 2).to(device, dtype), layout)
        b = torch.from_numpy(rng.standard_normal(shape[dim])).to(device, dtype) if with_bias else None
        args = dict(dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)
        inputs = [x.requires_grad_()] + ([b.requires_grad_()] if with_bias else [])
        actual = triton_bias_act.bias_act(x, b, **args)
        # The kernel computes in float32: the float32 reference on the same (float16) values is the expectation.
        wide = [t.detach().float().requires_grad_() for t in inputs]
        expected = _bias_act_ref(wide[0], wide[1] if with_bias else None, **args)
        _assert_close(actual, expected, dtype, what)
        if dtype == torch.float16:  # and the float16 reference, which rounds after each step, is near
            _assert_near(actual, _bias_act_ref(x, b, **args), what)
        dy = torch.from_numpy(rng.standard_normal(shape)).to(device, dtype)
        grads = torch.autograd.grad(actual, inputs, dy)
        expected_grads = torch.autograd.grad(expected, wide, dy.float())
        for name, got, want in zip("xb", grads, expected_grads, strict=False):
            _assert_close(got, want.to(dtype), dtype, f"d{name} {what}")


def test_every_activation_has_a_kernel():
    assert set(triton_bias_act.ACT_CODES) == set(ACTIVATIONS)


def test_bias_act_kernel_keeps_the_dtype_rules_and_rejects_what_the_reference_rejects():
    x = torch.randn(2, 3, 4, dtype=torch.float16, requires_grad=True)
    b = torch.randn(3, requires_grad=True)  # float32 on float16 x: rounded to float16, as by the reference
    y = triton_bias_act.bias_act(x, b, act="lrelu")
    assert y.dtype == torch.float16
    torch.testing.assert_close(y, _bias_act_ref(x, b, 1, "lrelu", None, None, None), rtol=1e-3, atol=1e-3)
    dx, db = torch.autograd.grad(y.sum(), [x, b])
    assert dx.dtype == torch.float16 and db.dtype == torch.float32
    assert triton_bias_act.bias_act(torch.empty(0, 3), torch.zeros(3)).shape == (0, 3)
    with pytest.raises(ValueError, match="unknown activation"):
        triton_bias_act.bias_act(x, act="gelu")
    with pytest.raises(ValueError, match="float16 or float32"):
        triton_bias_act.bias_act(x.double())


# ---------------------------------------------------------------------------------------------------------
# upfirdn2d

UPFIRDN_CASES = list(
    itertools.product(
        [1, 2, 4, [2, 1]],  # up
        [1, 2, 4, [1, 2]],  # down
        ["separable", "2d", "none"],  # filter kind
    )
)


def _filter(kind, taps, rng, device):
    if kind == "none":
        return None
    shape = [taps] if kind == "separable" else [max(taps - 1, 1), taps]  # 2-D filters are not square
    return torch.from_numpy(rng.random(shape) + 0.1).float().to(device)


def _upfirdn2d_case(up, down, kind, device, rng):
    """A filter, an input and arguments for the factors and filter kind, drawn from rng."""
    upx, upy = (up, up) if isinstance(up, int) else up
    factor = int(max(np.max(up), np.max(down)))
    # Separable filters as long as the layers' (up to 12 taps per factor); 2-D ones small, as setup_filter makes
    # them (and the interpreter is slow on many taps).
    choices = [1, 2, 3, 4 * factor, 3 * factor + 1] if kind == "separable" else [1, 2, 3, 2 * factor]
    taps = int(rng.choice(choices))
    f = _filter(kind, taps, rng, device)
    size = [1, 2, int(rng.integers(4, 8)), int(rng.integers(4, 8))] if device == "cpu" else [4, 32, 48, 40]
    x = torch.from_numpy(rng.standard_normal(size)).to(device)
    px0, px1, py0, py1 = (int(p) for p in rng.integers(-2, taps + 2, 4))
    # Leave at least the filter (the reference refuses less; test_ops.py checks that).
    px1 += max(0, taps - (size[3] * upx + px0 + px1))
    py1 += max(0, taps - (size[2] * upy + py0 + py1))
    flip_filter, gain = bool(rng.random() < 0.5), float(rng.choice([1, 1.7]))
    return f, x, dict(up=up, down=down, padding=[px0, px1, py0, py1], flip_filter=flip_filter, gain=gain)


def _compare_upfirdn2d(f, x, kwargs, dtype, rng):
    x = x.to(dtype).requires_grad_()
    wide = x.detach().float().requires_grad_()  # the kernel computes in float32, as the float32 reference
    expected = _upfirdn2d_ref(wide, f, **kwargs)
    actual = triton_upfirdn2d.upfirdn2d(x, f, **kwargs)
    what = f"{None if f is None else list(f.shape)} {kwargs} {dtype}"
    _assert_close(actual, expected, dtype, what)
    if dtype == torch.float16:  # the float16 reference rounds the taps, and between separable passes
        _assert_near(actual, _upfirdn2d_ref(x, f, **kwargs), what)
    dy = torch.from_numpy(rng.standard_normal(expected.shape)).to(x.device, dtype)
    (dx,) = torch.autograd.grad(actual, x, dy)
    (expected_dx,) = torch.autograd.grad(expected, wide, dy.float())
    _assert_close(dx, expected_dx.to(dtype), dtype, "dx " + what)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("up", "down", "kind"), UPFIRDN_CASES, ids=lambda v: str(v).replace(" ", ""))
def test_upfirdn2d_kernel_matches_the_reference_with_gradients(device, up, down, kind):
    rng = np.random.default_rng(zlib.crc32(f"{up} {down} {kind}".encode()))
    f, x, kwargs = _upfirdn2d_case(up, down, kind, device, rng)
    for dtype in [torch.float32, torch.float16]:
        _compare_upfirdn2d(f, x, kwargs, dtype, rng)


@pytest.mark.parametrize("device", DEVICES)
def test_second_order_gradients_match_the_reference(device, launches):
    """An R1-style penalty differentiates a gradient: upfirdn2d's double backward is its kernel again, bias_act's
    differentiates the reference (its backward kernel is not itself differentiable)."""
    rng = np.random.default_rng(3)
    size = [1, 2, 6, 6] if device == "cpu" else [4, 16, 32, 32]
    x = torch.from_numpy(rng.standard_normal(size)).float().to(device)
    b = torch.from_numpy(rng.standard_normal(size[1])).float().to(device)
    f = setup_filter([1, 3, 3, 1], device=device)
    ops = {
        "ref": (partial(upfirdn2d, impl="ref"), partial(bias_act, impl="ref")),
        "triton": (triton_upfirdn2d.upfirdn2d, triton_bias_act.bias_act),
    }
    grads = {}
    for name, (resample, activate) in ops.items():
        xx, bb = x.clone().requires_grad_(), b.clone().requires_grad_()
        y = activate(resample(xx, f, down=2, padding=1), bb, act="softplus", clamp=2.0)
        (g,) = torch.autograd.grad(y.square().sum(), xx, create_graph=True)
        grads[name] = torch.autograd.grad(g.square().sum(), [xx, bb])
    for got, want in zip(grads["triton"], grads["ref"], strict=True):
        _assert_close(got, want, torch.float32)
    assert launches["_upfirdn2d_kernel"].launches == 4  # forward, backward, and both again in the second pass


# ---------------------------------------------------------------------------------------------------------
# The dispatch


@pytest.mark.parametrize("device", DEVICES)
def test_the_resampling_helpers_take_the_kernel_at_the_layer_filters(device, triton_on, launches):
    rng = np.random.default_rng(4)
    size = [1, 3, 8, 8] if device == "cpu" else [4, 64, 64, 64]
    x = torch.from_numpy(rng.standard_normal(size)).float().to(device)
    short, long = setup_filter([1, 3, 3, 1], device=device), setup_filter(rng.random(12), device=device)
    assert short.ndim == 2 and long.ndim == 1
    for f in (short, long):
        for op in (filter2d, upsample2d, downsample2d):
            _assert_close(op(x, f), op(x, f, impl="ref"), torch.float32, f"{op.__name__} {list(f.shape)}")
    assert launches["_upfirdn2d_kernel"].launches == 3 + 3 * 2  # a 2-D pass each, two passes when separable


@pytest.mark.parametrize("device", DEVICES)
def test_the_dispatch_takes_the_kernels_only_where_it_should(device, triton_on, launches, monkeypatch):
    x = torch.randn(1, 2, 5, 5, device=device)
    b = torch.randn(2, device=device)
    f = setup_filter([1, 2, 1], device=device)
    count = {
        "upfirdn2d": lambda: launches["_upfirdn2d_kernel"].launches,
        "bias_act": lambda: launches["_forward_kernel"].launches,
    }
    ops = {
        "upfirdn2d": lambda x, f=f, **kw: upfirdn2d(x, f, up=2, padding=1, **kw),
        "bias_act": lambda x, f=None, **kw: bias_act(x, b, act="lrelu", **kw),
    }
    for name, op in ops.items():
        op(x)
        assert count[name]() == 1, name  # 'auto' is 'fast', which on CUDA (or here) is the kernel
        op(x, impl="ref")
        op(x.double())  # no float64 kernel
        monkeypatch.setenv(_dispatch.ENV_VARIABLE, "ref")
        op(x)
        monkeypatch.delenv(_dispatch.ENV_VARIABLE)
        assert count[name]() == 1, name
    upfirdn2d(x, f.clone().requires_grad_(), up=2, padding=1)  # a trainable filter takes the reference
    assert count["upfirdn2d"]() == 1
    x.requires_grad_()
    bias_act(x, b, act="lrelu").square().sum().backward()
    assert launches["_backward_kernel"].launches == 1
    if device == "cpu":
        monkeypatch.setattr(_dispatch, "TRITON_ON_CPU", False)
        ops["upfirdn2d"](x)
        assert count["upfirdn2d"]() == 1  # without the opt-in the CPU keeps its own fast paths


@pytest.mark.parametrize("device", DEVICES)
def test_filtered_lrelu_dispatches_to_its_triton_module(device, triton_on, monkeypatch):
    seen = []

    def spy(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter):
        seen.append((up, down, padding, gain, slope, clamp, flip_filter))
        return _filtered_lrelu_ref(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter)

    monkeypatch.setitem(
        sys.modules, "stylegan.ops.triton.filtered_lrelu", types.SimpleNamespace(filtered_lrelu=spy)
    )
    x, fu = torch.randn(1, 2, 6, 6, device=device), torch.rand(4, device=device)
    y = filtered_lrelu(x, fu, fu, None, up=2, down=2, padding=[3, 2], clamp=1.0)
    assert seen == [(2, 2, [3, 3, 2, 2], 2**0.5, 0.2, 1.0, False)]  # padding as [px0, px1, py0, py1]
    torch.testing.assert_close(
        y, filtered_lrelu(x, fu, fu, None, up=2, down=2, padding=[3, 2], clamp=1.0, impl="ref")
    )
    filtered_lrelu(x, fu.clone().requires_grad_(), fu, None, up=2, down=2, padding=3)
    assert len(seen) == 1  # trainable filters take the other paths


def _fallback_warnings(caught):
    return [str(w.message) for w in caught if issubclass(w.category, _dispatch.TritonFallbackWarning)]


@pytest.mark.parametrize("device", DEVICES)
def test_a_failing_kernel_warns_once_per_op_and_gives_the_reference(device, triton_on, monkeypatch):
    calls = []

    def broken(*args, **kwargs):
        calls.append(args[0].shape)
        raise RuntimeError("no kernel image is available for execution on the device")

    monkeypatch.setattr(triton_upfirdn2d, "upfirdn2d", broken)
    monkeypatch.setattr(triton_bias_act, "bias_act", broken)
    monkeypatch.setitem(sys.modules, "stylegan.ops.triton.filtered_lrelu", None)  # a module that is not there
    x, b = torch.randn(1, 2, 5, 5, device=device), torch.randn(2, device=device)
    f = setup_filter([1, 2, 1], device=device)
    ops = {
        "upfirdn2d": lambda impl: upfirdn2d(x, f, up=2, padding=1, impl=impl),
        "bias_act": lambda impl: bias_act(x, b, act="lrelu", clamp=0.5, impl=impl),
        "filtered_lrelu": lambda impl: filtered_lrelu(x, f, f, b, up=2, down=2, padding=2, impl=impl),
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for op in ops.values():
            for _ in range(3):  # (after the failure filtered_lrelu takes its CPU path here)
                torch.testing.assert_close(op("fast"), op("ref"))
    messages = _fallback_warnings(caught)
    assert len(messages) == 3 and len(calls) == 2  # one warning per op; a broken kernel is not tried again
    for name, message in zip(ops, messages, strict=True):
        assert f"kernel of {name} cannot run" in message and "reference" in message
    assert "no kernel image" in messages[0] and "stylegan.ops.triton.filtered_lrelu" in messages[2]


@pytest.mark.parametrize("device", DEVICES)
def test_bad_arguments_stay_the_callers_error_and_keep_the_kernel_on(device, triton_on, monkeypatch):
    monkeypatch.setitem(sys.modules, "stylegan.ops.triton.filtered_lrelu", None)
    x, ones = torch.randn(1, 2, 5, 5, device=device), torch.ones(3, device=device)
    with pytest.raises(ValueError, match="smaller than"):
        upfirdn2d(x, ones[:, None] * ones, padding=-2)
    with pytest.raises(ValueError, match="does not match"):
        bias_act(x, ones)
    with pytest.raises(ValueError, match="smaller than"):  # the reference refuses after the kernel failed
        filtered_lrelu(x, ones, None, None, up=1, padding=-2)
    assert _dispatch._disabled == {}


@pytest.mark.parametrize("device", DEVICES)
def test_a_failing_backward_kernel_warns_once_and_gives_the_reference_gradient(
    device, triton_on, monkeypatch
):
    x = torch.randn(1, 2, 5, 5, device=device, requires_grad=True)
    b = torch.randn(2, device=device, requires_grad=True)
    f = torch.rand(3, 2, device=device)
    expected = torch.autograd.grad(
        bias_act(upfirdn2d(x, f, up=2, impl="ref"), b, act="swish", impl="ref").sum(), [x, b]
    )
    y = bias_act(upfirdn2d(x, f, up=2), b, act="swish")  # the forward kernels run

    def broken(*args):
        raise RuntimeError("launch failed")

    monkeypatch.setattr(triton_upfirdn2d, "_launch", broken)
    monkeypatch.setattr(triton_bias_act, "_launch", broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        grads = torch.autograd.grad(y.sum(), [x, b])
    assert len(_fallback_warnings(caught)) == 2
    for got, want in zip(grads, expected, strict=True):
        _assert_close(got, want, torch.float32)


@pytest.mark.parametrize("device", DEVICES)
def test_without_triton_each_op_warns_once_and_runs_the_reference(device, triton_on, monkeypatch):
    monkeypatch.setattr(_dispatch, "triton_available", lambda: False)
    x, b = torch.randn(1, 2, 4, 4, device=device), torch.randn(2, device=device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            assert torch.equal(bias_act(x, b, act="relu"), bias_act(x, b, act="relu", impl="ref"))
            assert torch.equal(upfirdn2d(x, None, down=2), x[:, :, ::2, ::2])
    messages = _fallback_warnings(caught)
    assert len(messages) == 2 and all("triton is not installed" in m for m in messages)
