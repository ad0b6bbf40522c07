"""The ops against naive loop implementations written from their definitions, and gradcheck."""

import math

import pytest
import torch

from stylegan.ops import bias_act, conv2d_resample, filtered_lrelu, setup_filter, upfirdn2d
from stylegan.ops.upfirdn2d import downsample2d, filter2d, upsample2d


def naive_upfirdn2d(x, f, up=(1, 1), down=(1, 1), pad=(0, 0, 0, 0), flip_filter=False, gain=1.0):
    """Zero insertion, padding (negative crops), direct 2-D convolution, decimation: one loop per pixel."""
    f2 = torch.outer(f, f) if f.ndim == 1 else f
    g = f2 if flip_filter else f2.flip([0, 1])  # correlation kernel
    n, c, h, w = x.shape
    upx, upy = up
    big = torch.zeros(n, c, h * upy, w * upx, dtype=x.dtype)
    for i in range(h):
        for j in range(w):
            big[:, :, i * upy, j * upx] = x[:, :, i, j]
    px0, px1, py0, py1 = pad
    rows, cols = h * upy + py0 + py1, w * upx + px0 + px1
    padded = torch.zeros(n, c, rows, cols, dtype=x.dtype)
    for i in range(rows):
        for j in range(cols):
            si, sj = i - py0, j - px0
            if 0 <= si < big.shape[2] and 0 <= sj < big.shape[3]:
                padded[:, :, i, j] = big[:, :, si, sj]
    fh, fw = g.shape
    out = torch.zeros(n, c, rows - fh + 1, cols - fw + 1, dtype=x.dtype)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = (padded[:, :, i : i + fh, j : j + fw] * g).sum(dim=[2, 3])
    return out[:, :, :: down[1], :: down[0]] * gain


def naive_conv2d(x, w, groups=1):
    """Valid correlation, one loop per output pixel and group."""
    n, c, h, wd = x.shape
    o, ipg, kh, kw = w.shape
    out = torch.zeros(n, o, h - kh + 1, wd - kw + 1, dtype=x.dtype)
    opg = o // groups
    for g in range(groups):
        xs = x[:, g * ipg : (g + 1) * ipg]
        for i in range(out.shape[2]):
            for j in range(out.shape[3]):
                patch = xs[:, :, i : i + kh, j : j + kw]  # [N, I, kh, kw]
                for oc in range(g * opg, (g + 1) * opg):
                    out[:, oc, i, j] = (patch * w[oc]).sum(dim=[1, 2, 3])
    return out


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("separable", [True, False])
@pytest.mark.parametrize(
    ("up", "down", "pad", "flip", "gain"),
    [
        (1, 1, (0, 0, 0, 0), False, 1.0),
        (2, 1, (2, 1, 2, 1), False, 4.0),
        (1, 2, (1, 2, 0, 1), True, 1.0),
        (3, 2, (3, 2, 1, 4), False, 2.5),
        (2, 2, (-1, 2, 1, -2), True, 1.0),
        ((2, 1), (1, 3), (1, 1, 2, 0), False, 1.0),
    ],
)
def test_upfirdn2d_matches_the_naive_definition(separable, up, down, pad, flip, gain):
    x = _x(2, 3, 5, 7)
    f = _x(4, seed=1) if separable else _x(4, 3, seed=1)
    up2 = up if isinstance(up, tuple) else (up, up)
    down2 = down if isinstance(down, tuple) else (down, down)
    expected = naive_upfirdn2d(x, f, up2, down2, pad, flip, gain)
    actual = upfirdn2d(x, f, up=up, down=down, padding=list(pad), flip_filter=flip, gain=gain)
    torch.testing.assert_close(actual, expected)


def test_setup_filter_normalises_flips_and_splits_gain():
    f = setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and float(f.sum()) == pytest.approx(1)
    separable = setup_filter(list(range(1, 9)), gain=4)
    assert separable.shape == (8,) and float(separable.sum()) == pytest.approx(2)  # sqrt(4) per axis
    asym = setup_filter([[1, 2], [3, 4]], normalize=False, flip_filter=True)
    assert asym.tolist() == [[4, 3], [2, 1]]
    assert setup_filter(None).tolist() == [[1.0]]


def test_resampling_helpers_keep_the_expected_sizes_and_dc():
    x = torch.ones(1, 2, 8, 6, dtype=torch.float64)
    f = setup_filter([1, 3, 3, 1]).double()
    assert upsample2d(x, f).shape == (1, 2, 16, 12)
    assert downsample2d(x, f).shape == (1, 2, 4, 3)
    assert filter2d(x, f).shape == x.shape
    # A constant stays constant away from the borders.
    torch.testing.assert_close(
        upsample2d(x, f)[:, :, 4:-4, 4:-4], torch.ones(1, 2, 8, 4, dtype=torch.float64)
    )
    torch.testing.assert_close(
        downsample2d(x, f)[:, :, 1:-1, 1:-1], torch.ones(1, 2, 2, 1, dtype=torch.float64)
    )


@pytest.mark.parametrize(
    ("act", "reference", "gain"),
    [
        ("linear", lambda x: x, 1.0),
        ("relu", torch.relu, math.sqrt(2)),
        ("lrelu", lambda x: torch.nn.functional.leaky_relu(x, 0.2), math.sqrt(2)),
        ("tanh", torch.tanh, 1.0),
        ("sigmoid", torch.sigmoid, 1.0),
        ("elu", torch.nn.functional.elu, 1.0),
        ("selu", torch.selu, 1.0),
        ("softplus", torch.nn.functional.softplus, 1.0),
        ("swish", lambda x: x * torch.sigmoid(x), math.sqrt(2)),
    ],
)
def test_bias_act_applies_bias_activation_default_gain_and_clamp(act, reference, gain):
    x, b = _x(2, 3, 4), _x(4, seed=1)
    expected = reference(x + b.reshape(1, 1, 4)) * gain
    torch.testing.assert_close(bias_act(x, b, dim=2, act=act), expected)
    torch.testing.assert_close(
        bias_act(x, b, dim=2, act=act, gain=0.5, clamp=0.3),
        (reference(x + b.reshape(1, 1, 4)) * 0.5).clamp(-0.3, 0.3),
    )


def test_bias_act_alpha_and_errors():
    x = _x(3, 5)
    torch.testing.assert_close(bias_act(x, act="lrelu", alpha=0.5, gain=1), torch.where(x > 0, x, 0.5 * x))
    with pytest.raises(ValueError, match="unknown activation"):
        bias_act(x, act="gelu-ish")
    with pytest.raises(ValueError, match="bias"):
        bias_act(x, torch.zeros(4))


@pytest.mark.parametrize(
    ("up", "down", "pad", "clamp", "slope"),
    [(2, 2, (5, 4, 5, 4), None, 0.2), (4, 2, (8, 5, 8, 5), 0.5, 0.2), (1, 1, (5, 5, 5, 5), None, 1.0),
     (2, 1, (3, 2, 3, 2), 1.0, 0.1)],
)  # fmt: skip
def test_filtered_lrelu_is_the_composition_it_is_defined_as(up, down, pad, clamp, slope):
    x, b = _x(1, 2, 6, 5), _x(2, seed=1)
    fu, fd = setup_filter(_x(6, seed=2).abs()).double(), setup_filter(_x(6, seed=3).abs()).double()
    y = naive_upfirdn2d(x + b.reshape(1, 2, 1, 1), fu, (up, up), (1, 1), pad, gain=up**2)
    y = torch.where(y > 0, y, slope * y) * math.sqrt(2)
    if clamp is not None:
        y = y.clamp(-clamp, clamp)
    expected = naive_upfirdn2d(y, fd, (1, 1), (down, down))
    actual = filtered_lrelu(x, fu, fd, b, up=up, down=down, padding=list(pad), slope=slope, clamp=clamp)
    torch.testing.assert_close(actual, expected)


@pytest.mark.parametrize(
    ("up", "down", "kernel", "groups", "flip_weight"),
    [(1, 1, 3, 1, True), (2, 1, 3, 1, False), (2, 1, 3, 2, True), (2, 1, 1, 1, True), (1, 2, 3, 1, True),
     (1, 2, 1, 2, False), (2, 2, 3, 1, True)],
)  # fmt: skip
def test_conv2d_resample_matches_upsample_conv_downsample(up, down, kernel, groups, flip_weight):
    x, w = _x(2, 4, 5, 6), _x(6, 4 // groups, kernel, kernel, seed=1)
    f = setup_filter([1, 3, 3, 1]).double()
    pad = kernel // 2
    px0 = px1 = pad
    if up > 1:
        px0, px1 = px0 + (4 + up - 1) // 2, px1 + (4 - up) // 2
    if down > 1:
        px0, px1 = px0 + (4 - down + 1) // 2, px1 + (4 - down) // 2
    if up > 1:
        y = naive_upfirdn2d(x, f, (up, up), (1, 1), (px0, px1, px0, px1), gain=up**2)
    else:
        y = naive_upfirdn2d(x, torch.ones(1, 1, dtype=x.dtype), (1, 1), (1, 1), (px0, px1, px0, px1))
    y = naive_conv2d(y, w if flip_weight else w.flip([2, 3]), groups)
    if down > 1:
        y = naive_upfirdn2d(y, f, (1, 1), (down, down))
    actual = conv2d_resample(x, w, f, up=up, down=down, padding=pad, groups=groups, flip_weight=flip_weight)
    torch.testing.assert_close(actual, y)


def test_gradcheck_every_op():
    x = _x(1, 2, 5, 4).requires_grad_()
    b = _x(2, seed=1).requires_grad_()
    w = _x(3, 2, 3, 3, seed=2).requires_grad_()
    f = setup_filter([1, 3, 3, 1]).double()
    fu, fd = setup_filter(_x(4, seed=3).abs()).double(), setup_filter(_x(4, seed=4).abs()).double()
    checks = {
        "bias_act": lambda x, b: bias_act(x, b, act="lrelu", clamp=1.5),
        "upfirdn2d": lambda x, b: upfirdn2d(x, f, up=2, down=1, padding=[2, 1, 1, 2], gain=3.0),
        "filtered_lrelu": lambda x, b: filtered_lrelu(x, fu, fd, b, up=2, down=2, padding=[3, 2, 3, 2]),
        "conv2d_resample": lambda x, b: conv2d_resample(x, w, f, up=2, padding=1),
    }
    for name, op in checks.items():
        assert torch.autograd.gradcheck(op, (x, b), eps=1e-6, atol=1e-5), name


def test_impl_selection():
    x, f = _x(1, 1, 4, 4), setup_filter([1, 2, 1]).double()
    torch.testing.assert_close(upfirdn2d(x, f, impl="ref"), upfirdn2d(x, f, impl="auto"), rtol=0, atol=0)
    for op in (lambda: upfirdn2d(x, f, impl="cuda-kernel"), lambda: bias_act(x, impl="fast"),
               lambda: filtered_lrelu(x, impl="nope")):  # fmt: skip
        with pytest.raises(ValueError, match="impl"):
            op()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_ops_agree_on_cuda_in_float16():
    x, b = _x(2, 3, 8, 8).float(), _x(3, seed=1).float()
    fu, fd = setup_filter(_x(6, seed=2).abs()), setup_filter(_x(6, seed=3).abs())
    cpu = filtered_lrelu(x, fu, fd, b, up=2, down=2, padding=[5, 4, 5, 4])
    gpu = filtered_lrelu(
        x.cuda().half(), fu.cuda(), fd.cuda(), b.cuda().half(), up=2, down=2, padding=[5, 4, 5, 4]
    )
    torch.testing.assert_close(gpu.float().cpu(), cpu, rtol=1e-2, atol=1e-2)
