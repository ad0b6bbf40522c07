"""The compiled Winograd convolution (stylegan/ops/native/winograd): on the fast path every float32 3x3
convolution of conv2d_gradfix on the CPU runs through it; it equals torch's convolution to float32 rounding
of the output's scale, over shapes, paddings, groups and threads, and the gradients stay torch's."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stylegan.networks.alias_free import modulated_conv2d
from stylegan.ops import conv2d_gradfix, native
from stylegan.ops.native import winograd

pytestmark = pytest.mark.skipif(native.compiler() is None, reason="no C compiler on this machine")


@pytest.fixture(autouse=True)
def _kernels_on_any_cpu(monkeypatch):
    """The compiled kernels also where STYLEGAN_NATIVE's default would leave them out (a CPU without AVX-512)."""
    monkeypatch.setenv(native.ENV_VARIABLE, "always")


TOLERANCE = 5e-5  # of the output's largest magnitude: F(4x4, 3x3) in float32 (about 1e-5 measured)


@pytest.fixture
def calls(monkeypatch, count_calls):
    """How many times the Winograd convolution ran; it takes even the small cases of these tests."""
    monkeypatch.setattr(winograd, "MIN_WORK", 0)
    monkeypatch.setattr(winograd, "MIN_WEIGHT_GRADIENT_WORK", 0)
    return count_calls(winograd, "conv3x3")


def _case(seed, batch, in_channels, out_channels, size, groups=1):
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.standard_normal((batch, in_channels * groups, *size)).astype(np.float32))
    w = rng.standard_normal((out_channels * groups, in_channels, 3, 3)) / (3 * in_channels**0.5)
    return x, torch.from_numpy(w.astype(np.float32))


def _assert_close_to_exact(out, x, w, padding, groups):
    exact = F.conv2d(x.double(), w.double(), padding=padding, groups=groups)
    assert out.shape == exact.shape and out.dtype == torch.float32
    error = (out.double() - exact).abs().max().item()
    assert error <= TOLERANCE * exact.abs().max().item(), error


@pytest.mark.parametrize(
    "batch, in_channels, out_channels, size, padding, groups",
    [
        (1, 128, 128, (36, 36), (2, 2), 1),  # the layers of the 64x64 layouts
        (1, 256, 256, (20, 20), (2, 2), 1),
        (1, 16, 16, (3, 3), (0, 0), 1),  # one output sample, a tile that is mostly padding
        (1, 20, 17, (9, 12), (0, 0), 1),  # channels that fill no whole block
        (2, 33, 40, (7, 10), (1, 1), 1),
        (1, 32, 32, (10, 13), (2, 1), 2),  # padding that differs between the axes, groups
        (3, 16, 24, (5, 70), (2, 2), 3),  # rows wider than a vector of tiles
        (1, 16, 16, (66, 5), (3, 0), 1),
    ],
)
def test_the_winograd_convolution_equals_the_direct_one(
    calls, batch, in_channels, out_channels, size, padding, groups
):
    x, w = _case(0, batch, in_channels, out_channels, size, groups)
    with torch.no_grad():
        out = conv2d_gradfix.conv2d(x, w, padding=padding, groups=groups)
    _assert_close_to_exact(out, x, w, padding, groups)
    assert len(calls) == 1


@pytest.mark.parametrize("openmp", [True, False])
def test_the_winograd_convolution_is_the_same_on_one_thread_and_three(calls, monkeypatch, openmp):
    """Among OpenMP threads (the kernel built with it), or over Python threads (without)."""
    if not openmp:
        monkeypatch.setattr(winograd, "_parallel", lambda: False)
    x, w = _case(1, 1, 48, 40, (19, 23))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = conv2d_gradfix.conv2d(x, w, padding=2)
        torch.set_num_threads(3)
        three = conv2d_gradfix.conv2d(x, w, padding=2)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, three) and len(calls) == 2


@pytest.fixture
def weight_gradients(count_calls):
    """How many times the Winograd weight gradient ran."""
    return count_calls(winograd, "weight_gradient")


@pytest.mark.parametrize(
    "batch, in_channels, out_channels, size, padding, groups",
    [
        (2, 32, 24, (12, 12), 2, 1),
        (1, 32, 24, (12, 12), 1, 2),
        (1, 20, 17, (9, 14), 0, 1),
        (3, 16, 40, (6, 21), 2, 3),
    ],
)
def test_both_gradients_are_winograd_products_too(
    calls, weight_gradients, batch, in_channels, out_channels, size, padding, groups
):
    """The input's gradient is a convolution with the filters transposed and flipped; the weight's is the
    sum over tiles of (A gy A^T) * (B^T d B), the batch's tiles together, each group on its own."""
    x, w = _case(2, batch, in_channels, out_channels, size, groups)
    out_size = [size[axis] + 2 * padding - 2 for axis in range(2)]
    grad = torch.randn(batch, out_channels * groups, *out_size)
    results = []
    for convolution in (conv2d_gradfix.conv2d, F.conv2d):
        xs, ws = x.clone().requires_grad_(), w.clone().requires_grad_()
        out = convolution(xs, ws, padding=padding, groups=groups)
        results.append((out, *torch.autograd.grad(out, [xs, ws], grad)))
    ours, exact = (
        results[0],
        [
            value.double()
            for value in (
                F.conv2d(x.double(), w.double(), padding=padding, groups=groups),
                torch.nn.grad.conv2d_input(x.shape, w.double(), grad.double(), 1, padding, 1, groups),
                torch.nn.grad.conv2d_weight(x.double(), w.shape, grad.double(), 1, padding, 1, groups),
            )
        ],
    )
    for value, expected in zip(ours, exact, strict=True):
        error = (value.double() - expected).abs().max().item()
        assert error <= TOLERANCE * expected.abs().max().item(), error
    assert len(calls) == 2 and len(weight_gradients) == 1  # the forward pass and the input's gradient


@pytest.mark.parametrize("batch", [1, 4])
def test_a_modulated_convolution_on_the_fast_path_equals_the_reference(calls, monkeypatch, batch):
    """Fused, a batch is one grouped convolution with a group per sample."""
    x, w = _case(3, batch, 64, 64, (18, 18))
    styles = torch.randn(batch, 64).abs() + 0.5
    monkeypatch.setenv("STYLEGAN_OPS", "ref")
    reference = modulated_conv2d(x, w, styles, padding=2)
    monkeypatch.setenv("STYLEGAN_OPS", "fast")
    fast = modulated_conv2d(x, w, styles, padding=2)
    torch.testing.assert_close(fast, reference, rtol=0, atol=TOLERANCE * reference.abs().max().item())
    assert len(calls) == 1


def test_what_the_winograd_convolution_does_not_take_stays_with_torch(calls, monkeypatch):
    x, w = _case(4, 1, 32, 32, (12, 12))
    conv2d_gradfix.conv2d(x.double(), w.double(), padding=1)  # float64
    conv2d_gradfix.conv2d(x, w, padding=1, stride=2)  # strided
    conv2d_gradfix.conv2d(x, w[:, :, :1, :1], padding=0)  # 1x1
    with monkeypatch.context() as patch:
        patch.setattr(winograd, "MIN_WORK", 32 * 32 * 9 * 12 * 12 + 1)
        conv2d_gradfix.conv2d(x, w, padding=1)  # too little work to gain
    with monkeypatch.context() as patch:
        # 3x3 tiles, 32 + 32 channels: one byte less than their transforms take
        patch.setattr(winograd, "MAX_SCRATCH_BYTES", 36 * 4 * (9 + 16) * 64 - 1)
        conv2d_gradfix.conv2d(x, w, padding=1)  # transforms larger than a call may allocate
    monkeypatch.setenv("STYLEGAN_OPS", "ref")
    conv2d_gradfix.conv2d(x, w, padding=1)
    monkeypatch.setenv("STYLEGAN_OPS", "fast")
    monkeypatch.setenv(native.ENV_VARIABLE, "0")
    conv2d_gradfix.conv2d(x, w, padding=1)
    assert calls == []
    monkeypatch.setenv(native.ENV_VARIABLE, "always")
    conv2d_gradfix.conv2d(x, w, padding=1)
    assert len(calls) == 1


def test_without_a_compiler_the_convolution_is_torchs_and_quiet(calls, monkeypatch, tmp_path):
    monkeypatch.setenv("STYLEGAN_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", "/nonexistent/cc")
    monkeypatch.setattr(native, "_libraries", {})
    x, w = _case(5, 1, 32, 32, (12, 12))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = conv2d_gradfix.conv2d(x, w, padding=2)
    torch.testing.assert_close(out, F.conv2d(x, w, padding=2))
    assert calls == [] and native.library("winograd") is None


def test_the_weight_gradient_stays_torchs_where_the_kernel_does_not_gain(weight_gradients, monkeypatch):
    x, w = _case(6, 1, 32, 32, (12, 12))
    grad = torch.randn(1, 32, 14, 14)

    def backward():
        ws = w.clone().requires_grad_()
        return torch.autograd.grad(conv2d_gradfix.conv2d(x, ws, padding=2), ws, grad)[0]

    expected = torch.nn.grad.conv2d_weight(x, w.shape, grad, 1, 2, 1, 1)
    torch.testing.assert_close(backward(), expected)  # 32 x 32 x 9 x 14 x 14 multiply-adds: too few
    monkeypatch.setattr(winograd, "MIN_WEIGHT_GRADIENT_WORK", 0)
    monkeypatch.setenv("STYLEGAN_OPS", "ref")
    torch.testing.assert_close(backward(), expected)
    assert weight_gradients == []
    monkeypatch.setenv("STYLEGAN_OPS", "fast")
    torch.testing.assert_close(backward(), expected, rtol=0, atol=TOLERANCE * expected.abs().max().item())
    assert len(weight_gradients) == 1
