"""The ops against naive loop implementations written from their definitions, torch's own functions, and gradcheck."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stylegan.ops import upfirdn2d as upfirdn2d_module
from stylegan.ops.bias_act import ACTIVATIONS, bias_act
from stylegan.ops.conv2d_resample import conv2d_resample
from stylegan.ops.filtered_lrelu import filtered_lrelu
from stylegan.ops.upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

# ---------------------------------------------------------------------------------------------------------
# Naive building blocks: one Python loop per pixel, written from the definitions.


def naive_zero_insert(x, upx, upy):
    n, c, h, w = x.shape
    out = torch.zeros(n, c, h * upy, w * upx, dtype=x.dtype)
    for i in range(h):
        for j in range(w):
            out[:, :, i * upy, j * upx] = x[:, :, i, j]
    return out


def naive_pad(x, px0, px1, py0, py1):
    """Zeros around x; a negative amount drops rows or columns instead."""
    n, c, h, w = x.shape
    out = torch.zeros(n, c, h + py0 + py1, w + px0 + px1, dtype=x.dtype)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            si, sj = i - py0, j - px0
            if 0 <= si < h and 0 <= sj < w:
                out[:, :, i, j] = x[:, :, si, sj]
    return out


def naive_correlate(x, k):
    """Valid 2-D correlation of every channel with the same [kh, kw] kernel."""
    kh, kw = k.shape
    out = torch.zeros(x.shape[0], x.shape[1], x.shape[2] - kh + 1, x.shape[3] - kw + 1, dtype=x.dtype)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = (x[:, :, i : i + kh, j : j + kw] * k).sum(dim=[2, 3])
    return out


def naive_decimate(x, downx, downy):
    rows, cols = range(0, x.shape[2], downy), range(0, x.shape[3], downx)
    out = torch.zeros(x.shape[0], x.shape[1], len(rows), len(cols), dtype=x.dtype)
    for oi, i in enumerate(rows):
        for oj, j in enumerate(cols):
            out[:, :, oi, oj] = x[:, :, i, j]
    return out


def naive_upfirdn2d(x, f, up=(1, 1), down=(1, 1), pad=(0, 0, 0, 0), flip_filter=False, gain=1.0):
    """Zero insertion, padding, 2-D convolution (or correlation), decimation; a 1-D filter acts as f x f."""
    if f is None:
        f = torch.ones(1, 1, dtype=x.dtype)
    f = f.to(x.dtype)
    kernel = torch.outer(f, f) if f.ndim == 1 else f
    if not flip_filter:
        kernel = kernel.flip([0, 1])  # a convolution is a correlation with the mirrored kernel
    y = naive_pad(naive_zero_insert(x, *up), *pad)
    return naive_decimate(naive_correlate(y, kernel), *down) * gain


def naive_conv2d(x, w, groups=1):
    """Valid grouped correlation with w [O, I / groups, kh, kw]."""
    out_channels, in_per_group, kh, kw = w.shape
    out_per_group = out_channels // groups
    out = torch.zeros(x.shape[0], out_channels, x.shape[2] - kh + 1, x.shape[3] - kw + 1, dtype=x.dtype)
    for o in range(out_channels):
        g = o // out_per_group
        xs = x[:, g * in_per_group : (g + 1) * in_per_group]
        for i in range(out.shape[2]):
            for j in range(out.shape[3]):
                out[:, o, i, j] = (xs[:, :, i : i + kh, j : j + kw] * w[o]).sum(dim=[1, 2, 3])
    return out


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def four(p):
    if isinstance(p, int):
        return (p, p, p, p)
    return (p[0], p[0], p[1], p[1]) if len(p) == 2 else tuple(p)


# ---------------------------------------------------------------------------------------------------------
# upfirdn2d and its helpers


@pytest.mark.parametrize("separable", [True, False])
@pytest.mark.parametrize(
    ("up", "down", "padding", "flip_filter", "gain"),
    [
        (1, 1, 0, False, 1.0),
        (2, 1, [2, 1, 2, 1], False, 4.0),
        (1, 2, [1, 2, 0, 1], True, 1.0),
        (3, 2, [3, 2, 1, 4], False, 2.5),
        (2, 2, [-1, 2, 1, -2], True, 1.0),  # negative padding crops
        ([2, 1], [1, 3], [1, 2], False, 1.0),  # per-axis factors, [x, y] padding
        (1, 1, 2, True, 0.5),
    ],
)
def test_upfirdn2d_matches_the_naive_definition(separable, up, down, padding, flip_filter, gain):
    x = randn(2, 3, 5, 7)  # non-square
    f = randn(4, seed=1) if separable else randn(4, 3, seed=1)  # non-square, asymmetric 2-D filter
    expected = naive_upfirdn2d(x, f, pair(up), pair(down), four(padding), flip_filter, gain)
    actual = upfirdn2d(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain)
    torch.testing.assert_close(actual, expected)


def test_upfirdn2d_without_filter_only_resamples_and_pads():
    x = randn(1, 2, 4, 3)
    expected = naive_upfirdn2d(x, None, (2, 3), (1, 1), (1, 0, -1, 2), gain=2.0)
    torch.testing.assert_close(upfirdn2d(x, None, up=[2, 3], padding=[1, 0, -1, 2], gain=2.0), expected)


def test_upfirdn2d_accepts_numpy_integers_and_keeps_float16_filters_out_of_the_dtype():
    x = randn(1, 1, 4, 4).float()
    f = setup_filter([1, 2, 1])
    a = upfirdn2d(x, f, up=np.int64(2), padding=[np.int64(1), np.int64(1)])
    torch.testing.assert_close(a, upfirdn2d(x, f, up=2, padding=1))
    assert upfirdn2d(x.double(), f).dtype == torch.float64  # the float32 filter follows x


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"up": 0}, "up"),
        ({"down": [2, 2, 2]}, "down"),
        ({"up": 1.5}, "up"),
        ({"padding": [1, 2, 3]}, "padding"),
        ({"padding": -2}, "smaller than the"),
    ],
)
def test_upfirdn2d_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        upfirdn2d(randn(1, 1, 3, 3), setup_filter([1, 2, 1]), **kwargs)


def test_upfirdn2d_rejects_non_image_input_and_bad_filters():
    with pytest.raises(ValueError, match="N, C, H, W"):
        upfirdn2d(randn(3, 3), None)
    with pytest.raises(ValueError, match="filter"):
        upfirdn2d(randn(1, 1, 3, 3), randn(2, 2, 2))


def test_setup_filter_normalises_expands_flips_and_splits_the_gain():
    short = setup_filter([1, 3, 3, 1])
    assert short.dtype == torch.float32 and short.shape == (4, 4)  # fewer than 8 taps: one 2-D pass
    torch.testing.assert_close(
        short, torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64
    )

    long = setup_filter(list(range(1, 9)), gain=4)
    assert long.shape == (8,)  # 8 taps and more stay separable
    assert float(long.sum()) == pytest.approx(2)  # sqrt(gain) on each of the two passes
    assert setup_filter([1, 2, 1], separable=True).shape == (3,)
    assert setup_filter(list(range(1, 9)), separable=False).shape == (8, 8)

    assert setup_filter([[1, 2], [3, 4]], normalize=False, flip_filter=True).tolist() == [[4, 3], [2, 1]]
    assert setup_filter([[1, 2], [3, 4]], gain=3).sum().item() == pytest.approx(3)
    assert setup_filter(None).tolist() == [[1.0]]
    assert setup_filter(5.0).tolist() == [[1.0]]


def test_setup_filter_leaves_its_input_alone_and_rejects_bad_shapes():
    taps = torch.tensor([1.0, 2.0, 1.0])
    setup_filter(taps)
    assert taps.tolist() == [1.0, 2.0, 1.0]
    assert setup_filter(np.array([1.0, 1.0]), device="cpu").device.type == "cpu"
    with pytest.raises(ValueError, match="1-D or 2-D"):
        setup_filter(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="separable"):
        setup_filter([[1, 2], [3, 4]], separable=True)


@pytest.mark.parametrize("flip_filter", [False, True])
@pytest.mark.parametrize("shape", [(3, 3), (4, 4), (3, 4), (2, 5)])
def test_filter2d_impulse_response_is_the_filter_around_its_centre_tap(shape, flip_filter):
    fh, fw = shape
    f = randn(fh, fw, seed=3)
    x = torch.zeros(1, 1, 9, 8, dtype=torch.float64)
    cy, cx = 4, 3
    x[0, 0, cy, cx] = 1
    # A convolution reproduces the filter, a correlation the mirrored filter; either way the pattern starts
    # (n - 1) // 2 samples before the impulse.
    kernel = f.flip([0, 1]) if flip_filter else f
    oy, ox = cy - (fh - 1) // 2, cx - (fw - 1) // 2
    expected = torch.zeros_like(x)
    expected[0, 0, oy : oy + fh, ox : ox + fw] = kernel
    torch.testing.assert_close(filter2d(x, f, flip_filter=flip_filter), expected)
    # Extra padding grows the output on the named sides.
    grown = filter2d(x, f, padding=[1, 0, 2, 1], flip_filter=flip_filter)
    torch.testing.assert_close(grown, F.pad(expected, [1, 0, 2, 1]))


def test_box_filters_give_nearest_upsampling_and_average_pooling():
    x = randn(2, 3, 4, 5)
    box = setup_filter([1, 1])
    nearest = x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    torch.testing.assert_close(upsample2d(x, box), nearest)
    row_box = setup_filter([[1, 1, 1]])  # 3 wide, 1 tall: nearest along x only
    torch.testing.assert_close(upsample2d(x, row_box, up=[3, 1]), x.repeat_interleave(3, dim=3))
    torch.testing.assert_close(downsample2d(nearest, box), x)
    y = randn(1, 2, 6, 8)
    torch.testing.assert_close(downsample2d(y, box), F.avg_pool2d(y, 2))
    torch.testing.assert_close(downsample2d(y, box, gain=3.0), 3 * F.avg_pool2d(y, 2))
    torch.testing.assert_close(upsample2d(x, box, padding=1), F.pad(nearest, [1, 1, 1, 1]))


@pytest.mark.parametrize("shape", [(3, 3), (5, 3), (3, 1)])
def test_odd_filters_downsample_by_two_onto_the_even_samples(shape):
    """An odd filter cannot centre on the middle of a 2x2 block, so it centres on the block's first sample."""
    x, f = randn(1, 2, 7, 8), randn(*shape, seed=1)
    for flip_filter in (False, True):
        expected = filter2d(x, f, flip_filter=flip_filter)[:, :, 0:6:2, 0:8:2]
        torch.testing.assert_close(downsample2d(x, f, flip_filter=flip_filter), expected)


@pytest.mark.parametrize("taps", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("factor", [2, 3])
def test_resampling_helpers_scale_the_size_exactly(taps, factor):
    f = randn(taps, seed=1)
    for height, width in [(5, 6), (7, 9)]:
        x = randn(1, 1, height, width)
        assert filter2d(x, f).shape[2:] == (height, width)
        assert upsample2d(x, f, up=factor).shape[2:] == (height * factor, width * factor)
        assert downsample2d(x, f, down=factor).shape[2:] == (height // factor, width // factor)
        assert upsample2d(x, f, up=[factor, 1], padding=[1, 2]).shape[2:] == (height + 4, width * factor + 2)


@pytest.mark.parametrize("separable", [True, False])
def test_even_symmetric_filters_resample_without_shifting_the_image(separable):
    f = setup_filter([1, 3, 3, 1], separable=separable).double()
    x = randn(1, 2, 6, 5)
    up, down = upsample2d(x, f), downsample2d(x.repeat(1, 1, 2, 2), f)
    assert up.shape == (1, 2, 12, 10) and down.shape == (1, 2, 6, 5)
    torch.testing.assert_close(upsample2d(x.flip([2, 3]), f), up.flip([2, 3]))
    torch.testing.assert_close(downsample2d(x.repeat(1, 1, 2, 2).flip([2, 3]), f), down.flip([2, 3]))
    ones = torch.ones(1, 1, 8, 8, dtype=torch.float64)  # a constant stays constant away from the borders
    torch.testing.assert_close(
        upsample2d(ones, f)[..., 2:-2, 2:-2], torch.ones(1, 1, 12, 12, dtype=torch.float64)
    )
    torch.testing.assert_close(
        downsample2d(ones, f)[..., 1:-1, 1:-1], torch.ones(1, 1, 2, 2, dtype=torch.float64)
    )


# ---------------------------------------------------------------------------------------------------------
# bias_act

TORCH_ACTIVATIONS = {
    "linear": (lambda x: x, 1.0),
    "relu": (torch.relu, math.sqrt(2)),
    "lrelu": (lambda x: F.leaky_relu(x, 0.2), math.sqrt(2)),
    "tanh": (torch.tanh, 1.0),
    "sigmoid": (torch.sigmoid, 1.0),
    "elu": (F.elu, 1.0),
    "selu": (torch.selu, 1.0),
    "softplus": (F.softplus, 1.0),
    "swish": (F.silu, math.sqrt(2)),
}


def test_every_activation_is_tested():
    assert set(TORCH_ACTIVATIONS) == set(ACTIVATIONS)


@pytest.mark.parametrize("act", sorted(TORCH_ACTIVATIONS))
@pytest.mark.parametrize(("dim", "shape"), [(1, (2, 3, 4)), (2, (2, 3, 4)), (0, (5, 2)), (-1, (2, 3, 4))])
def test_bias_act_matches_torch_with_default_and_given_gain_and_clamp(act, dim, shape):
    reference, default_gain = TORCH_ACTIVATIONS[act]
    x, b = 3 * randn(*shape), randn(shape[dim], seed=1)
    biased = x + b.reshape([-1 if i == dim % len(shape) else 1 for i in range(len(shape))])
    torch.testing.assert_close(bias_act(x, b, dim=dim, act=act), reference(biased) * default_gain)
    torch.testing.assert_close(
        bias_act(x, b, dim=dim, act=act, gain=0.7, clamp=0.4), (reference(biased) * 0.7).clamp(-0.4, 0.4)
    )
    assert ACTIVATIONS[act].default_gain == pytest.approx(default_gain)


def test_bias_act_alpha_clamp_zero_and_no_bias():
    x = 2 * randn(3, 5)
    torch.testing.assert_close(bias_act(x, act="lrelu", alpha=0.5, gain=1), torch.where(x > 0, x, 0.5 * x))
    torch.testing.assert_close(bias_act(x, act="lrelu", alpha=0.0), torch.relu(x) * math.sqrt(2))
    torch.testing.assert_close(bias_act(x, act="relu", clamp=0), torch.zeros_like(x))
    torch.testing.assert_close(bias_act(x, dim=7), x)  # dim is ignored without a bias
    torch.testing.assert_close(bias_act(x, act="elu", alpha=5.0), F.elu(x))  # elu has no shape parameter


def test_bias_act_keeps_the_dtype_of_x():
    x, b = randn(2, 3), randn(3, seed=1).float()
    assert bias_act(x, b).dtype == torch.float64
    assert bias_act(x.float(), b.double(), act="lrelu").dtype == torch.float32


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"act": "gelu"}, "unknown activation"),
        ({"b": torch.zeros(4)}, "bias"),
        ({"b": torch.zeros(5, 1)}, "bias"),
        ({"b": torch.zeros(5), "dim": 2}, "dim"),
        ({"clamp": -1}, "clamp"),
    ],
)
def test_bias_act_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bias_act(randn(3, 5), **kwargs)


# ---------------------------------------------------------------------------------------------------------
# filtered_lrelu


def naive_filtered_lrelu(x, fu, fd, b, up, down, pad, gain, slope, clamp, flip_filter):
    if b is not None:
        x = x + b.reshape(1, -1, 1, 1)
    y = naive_upfirdn2d(x, fu, (up, up), (1, 1), pad, flip_filter, gain=up**2)
    y = torch.where(y > 0, y, slope * y) * gain
    if clamp is not None:
        y = y.clamp(-clamp, clamp)
    return naive_upfirdn2d(y, fd, (1, 1), (down, down), (0, 0, 0, 0), flip_filter)


@pytest.mark.parametrize(
    ("up", "down", "padding", "filters", "gain", "slope", "clamp", "flip_filter", "bias"),
    [
        (2, 2, [5, 4, 5, 4], "separable", math.sqrt(2), 0.2, None, False, True),
        (4, 2, [8, 5], "2d", math.sqrt(2), 0.2, 0.5, False, True),
        (1, 1, 5, "separable", 1.0, 1.0, None, True, False),
        (2, 1, [3, 2, 4, 1], "2d", 1.3, 0.1, 1.0, True, True),
        (1, 2, [0, 1, 2, 3], "none", math.sqrt(2), 0.0, 0.3, False, True),
        (2, 4, [6, -1, 5, 2], "mixed", 0.8, 0.2, 2.0, False, False),
    ],
)
def test_filtered_lrelu_is_the_composition_it_is_defined_as(
    up, down, padding, filters, gain, slope, clamp, flip_filter, bias
):
    x, b = 2 * randn(1, 2, 6, 5), randn(2, seed=1) if bias else None
    if filters == "separable":
        fu, fd = randn(6, seed=2).abs(), randn(5, seed=3).abs()
    elif filters == "2d":
        fu, fd = randn(4, 6, seed=2), randn(3, 5, seed=3)
    elif filters == "mixed":
        fu, fd = randn(4, seed=2), randn(3, 2, seed=3)
    else:
        fu, fd = None, None
    kwargs = dict(up=up, down=down, gain=gain, slope=slope, clamp=clamp, flip_filter=flip_filter)
    expected = naive_filtered_lrelu(x, fu, fd, b, pad=four(padding), **kwargs)
    torch.testing.assert_close(filtered_lrelu(x, fu, fd, b, padding=padding, **kwargs), expected)


def test_filtered_lrelu_defaults_and_output_size():
    x = randn(2, 3, 7, 6)
    torch.testing.assert_close(filtered_lrelu(x), F.leaky_relu(x, 0.2) * math.sqrt(2))
    fu, fd = setup_filter(randn(6, seed=1).abs()).double(), setup_filter(randn(4, seed=2).abs()).double()
    y = filtered_lrelu(x, fu, fd, up=2, down=2, padding=[5, 4, 3, 2])
    # (in * up + padding - (fu_taps - 1) - (fd_taps - 1) + down - 1) // down per axis
    assert y.shape == (2, 3, (7 * 2 + 5 - 5 - 3 + 1) // 2, (6 * 2 + 9 - 5 - 3 + 1) // 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"up": 0}, "up and down"),
        ({"down": 1.5}, "up and down"),
        ({"gain": 0}, "gain"),
        ({"slope": -0.1}, "slope"),
        ({"clamp": -1}, "clamp"),
        ({"b": torch.zeros(2, dtype=torch.float64)}, "bias"),
    ],
)
def test_filtered_lrelu_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        filtered_lrelu(randn(1, 3, 4, 4), **kwargs)


# ---------------------------------------------------------------------------------------------------------
# conv2d_resample


def naive_conv2d_resample(x, w, f, up, down, padding, groups, flip_weight, flip_filter):
    """Zero-insert and filter, convolve, filter and decimate; the filter pads like upsample2d/downsample2d."""
    fw, fh = (1, 1) if f is None else (f.shape[-1], f.shape[0])
    px0, px1, py0, py1 = four(padding)
    if up > 1:
        px0, px1, py0, py1 = (
            px0 + (fw + up - 1) // 2,
            px1 + (fw - up) // 2,
            py0 + (fh + up - 1) // 2,
            py1 + (fh - up) // 2,
        )
    if down > 1:
        px0, px1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2
        py0, py1 = py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2
    pad = (px0, px1, py0, py1)
    if up > 1:
        y = naive_upfirdn2d(x, f, (up, up), (1, 1), pad, flip_filter, gain=up**2)
    else:
        y = naive_pad(x, *pad)
    y = naive_conv2d(y, w if flip_weight else w.flip([2, 3]), groups)
    if down > 1:
        y = naive_upfirdn2d(y, f, (1, 1), (down, down), (0, 0, 0, 0), flip_filter)
    return y


@pytest.mark.parametrize(
    ("up", "down", "kernel", "groups", "padding", "flip_weight", "flip_filter", "filt"),
    [
        (1, 1, (3, 3), 1, 1, True, False, "sep"),  # plain 3x3, same padding
        (1, 1, (3, 3), 2, [1, 0, 2, 1], False, False, "sep"),  # asymmetric padding, grouped
        (2, 1, (3, 3), 1, 1, True, False, "sep"),  # the StyleGAN2 upsampling conv
        (2, 1, (3, 3), 1, 1, False, False, "sep"),
        (2, 1, (3, 3), 2, 0, True, True, "2d"),
        (2, 1, (1, 1), 1, 0, True, False, "sep"),  # toRGB-like 1x1
        (2, 1, (3, 1), 1, [0, 1], False, True, "2d"),  # non-square kernel
        (1, 2, (3, 3), 1, 1, True, False, "sep"),  # the discriminator's downsampling conv
        (1, 2, (3, 3), 2, 1, False, True, "2d"),
        (1, 2, (1, 1), 1, 0, True, False, "sep"),  # the residual skip
        (1, 2, (1, 1), 2, 0, False, False, "2d"),
        (2, 2, (3, 3), 1, 1, True, False, "sep"),
        (2, 2, (1, 1), 2, [1, 0, 0, 1], True, True, "2d"),
        (3, 1, (2, 2), 1, [-1, 1, 0, 0], True, False, "sep"),  # kernel smaller than up, cropping
        (2, 1, (3, 3), 1, 1, True, False, "none"),
    ],
)
def test_conv2d_resample_matches_upsample_conv_downsample(
    up, down, kernel, groups, padding, flip_weight, flip_filter, filt
):
    x = randn(2, 4, 5, 6)
    w = randn(6, 4 // groups, *kernel, seed=1)
    f = {"sep": setup_filter([1, 3, 3, 1]).double(), "2d": randn(3, 4, seed=2), "none": None}[filt]
    kwargs = dict(
        up=up, down=down, padding=padding, groups=groups, flip_weight=flip_weight, flip_filter=flip_filter
    )
    expected = naive_conv2d_resample(x, w, f, **kwargs)
    torch.testing.assert_close(conv2d_resample(x, w, f, **kwargs), expected)


def test_conv2d_resample_with_a_box_filter_is_nearest_upsampling_or_average_pooling_around_conv2d():
    x, w = randn(2, 3, 5, 4), randn(4, 3, 3, 3, seed=1)
    box = setup_filter([1, 1]).double()
    nearest = F.interpolate(x, scale_factor=2, mode="nearest")
    torch.testing.assert_close(conv2d_resample(x, w, box, up=2, padding=1), F.conv2d(nearest, w, padding=1))
    y = randn(2, 3, 6, 8)
    torch.testing.assert_close(
        conv2d_resample(y, w, box, down=2, padding=1), F.avg_pool2d(F.conv2d(y, w, padding=1), 2)
    )


def test_conv2d_resample_with_a_unit_kernel_is_upsample2d_or_downsample2d():
    x = randn(1, 2, 5, 4)
    eye = torch.eye(2, dtype=torch.float64).reshape(2, 2, 1, 1)
    f = setup_filter([1, 3, 3, 1]).double()
    torch.testing.assert_close(conv2d_resample(x, eye, f, up=2), upsample2d(x, f))
    torch.testing.assert_close(conv2d_resample(x, eye, f, down=2), downsample2d(x, f))


def test_conv2d_resample_rejects_bad_arguments():
    x, w = randn(1, 2, 4, 4), randn(2, 2, 3, 3)
    with pytest.raises(ValueError, match="4-D"):
        conv2d_resample(x, w[0])
    with pytest.raises(ValueError, match="positive integers"):
        conv2d_resample(x, w, up=0)


# ---------------------------------------------------------------------------------------------------------
# Gradients, implementation choice, half precision


def test_gradcheck_every_op():
    x = randn(1, 2, 5, 4).requires_grad_()
    b = randn(2, seed=1).requires_grad_()
    w = randn(3, 2, 3, 3, seed=2).requires_grad_()
    f = setup_filter([1, 3, 3, 1]).double()
    f2d = randn(3, 2, seed=5)
    fu, fd = randn(4, seed=3).abs(), randn(4, seed=4).abs()
    checks = {
        "bias_act": (lambda x, b: bias_act(x, b, act="lrelu", clamp=1.5), (x, b)),
        "bias_act swish": (lambda x, b: bias_act(x, b, act="swish", dim=1), (x, b)),
        "upfirdn2d": (lambda x: upfirdn2d(x, f, up=2, padding=[2, 1, 1, 2], gain=3.0), (x,)),
        "upfirdn2d 2-D": (
            lambda x: upfirdn2d(x, f2d, up=[1, 2], down=[2, 1], padding=1, flip_filter=True),
            (x,),
        ),
        "filtered_lrelu": (
            lambda x, b: filtered_lrelu(x, fu, fd, b, up=2, down=2, padding=[3, 2, 3, 2]),
            (x, b),
        ),
        "conv2d_resample up": (lambda x, w: conv2d_resample(x, w, f, up=2, padding=1), (x, w)),
        "conv2d_resample down": (lambda x, w: conv2d_resample(x, w, f, down=2, padding=1), (x, w)),
    }
    for name, (op, inputs) in checks.items():
        assert torch.autograd.gradcheck(op, inputs, eps=1e-6, atol=1e-5), name


def test_second_order_gradients_for_the_discriminator_ops():
    """R1 regularisation differentiates through the discriminator's gradients."""
    x = randn(1, 2, 4, 4).requires_grad_()
    w = randn(2, 2, 3, 3, seed=1).requires_grad_()
    f = setup_filter([1, 3, 3, 1]).double()
    b = randn(2, seed=2)

    def op(x, w):
        return bias_act(conv2d_resample(x, w, f, down=2, padding=1), b, act="softplus")

    assert torch.autograd.gradgradcheck(op, (x, w), eps=1e-6, atol=1e-5)


def test_auto_fast_and_ref_agree_and_other_impls_are_refused():
    """'auto' and 'fast' are the reference exactly where no fast path exists, and to rounding where one does."""
    x, b = randn(1, 2, 5, 4), randn(2, seed=1)
    f = setup_filter([1, 2, 1]).double()
    ops = {
        "upfirdn2d": lambda impl: upfirdn2d(x, f, up=2, padding=1, impl=impl),
        "filter2d": lambda impl: filter2d(x, f, impl=impl),
        "upsample2d": lambda impl: upsample2d(x, f, impl=impl),
        "downsample2d": lambda impl: downsample2d(x, f, impl=impl),
        "bias_act": lambda impl: bias_act(x, b, act="lrelu", impl=impl),
        "filtered_lrelu": lambda impl: filtered_lrelu(x, f, f, b, up=2, down=2, padding=2, impl=impl),
    }
    for name, op in ops.items():
        exact = name in ("filter2d", "bias_act")  # 2-D filters and elementwise ops have no fast path
        tolerance = dict(rtol=0, atol=0) if exact else dict(rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(op("auto"), op("ref"), **tolerance, msg=name)
        torch.testing.assert_close(op("fast"), op("auto"), rtol=0, atol=0, msg=name)
        with pytest.raises(ValueError, match="impl"):
            op("cuda")


def test_the_package_exposes_the_op_modules_like_the_official_layout():
    assert upfirdn2d_module.setup_filter is setup_filter and upfirdn2d_module.upfirdn2d is upfirdn2d


@pytest.mark.gpu
@pytest.mark.gpu
def test_ops_run_in_float16_on_cuda_and_agree_with_float32():
    x, b = randn(2, 4, 8, 8).float(), randn(4, seed=1).float()
    w = randn(4, 2, 3, 3, seed=2).float() / 3
    fu, fd = setup_filter(randn(6, seed=3).abs()), setup_filter(randn(6, seed=4).abs())
    f = setup_filter([1, 3, 3, 1])
    ops = {
        "filtered_lrelu": lambda x, b, w, fu, fd, f: filtered_lrelu(
            x, fu, fd, b, up=2, down=2, padding=[5, 4, 5, 4]
        ),
        "bias_act": lambda x, b, w, fu, fd, f: bias_act(x, b, act="lrelu", clamp=1.0),
        "upsample2d": lambda x, b, w, fu, fd, f: upsample2d(x, f),
        "conv2d_resample up": lambda x, b, w, fu, fd, f: conv2d_resample(x, w, f, up=2, padding=1, groups=2),
        "conv2d_resample down": lambda x, b, w, fu, fd, f: conv2d_resample(
            x, w, f, down=2, padding=1, groups=2
        ),
    }
    for name, op in ops.items():
        cpu = op(x, b, w, fu, fd, f)
        gpu = op(x.cuda().half(), b.cuda().half(), w.cuda().half(), fu.cuda(), fd.cuda(), f.cuda())
        assert gpu.dtype == torch.float16, name
        torch.testing.assert_close(gpu.float().cpu(), cpu, rtol=1e-2, atol=1e-2, msg=name)


# ---------------------------------------------------------------------------------------------------------------
# The CPU matrix path of upfirdn2d


@pytest.mark.parametrize("trial", range(40))
def test_the_matrix_path_equals_the_reference(trial):
    rng = np.random.default_rng(trial)
    taps = int(rng.choice([8, 9, 12, 13]))
    f = torch.from_numpy(rng.standard_normal(taps))
    up = [int(rng.choice([1, 2, 4])), int(rng.choice([1, 2]))]
    down = [int(rng.choice([1, 2, 3])), int(rng.choice([1, 2]))]
    height, width = int(rng.integers(6, 40)), int(rng.integers(6, 40))
    padding = [int(v) for v in rng.integers(-3, 13, 4)]
    kwargs = dict(up=up, down=down, padding=padding, flip_filter=bool(rng.random() < 0.5), gain=1.7)
    x = torch.from_numpy(rng.standard_normal((2, 3, height, width)))
    try:
        expected = upfirdn2d(x, f, impl="ref", **kwargs)
    except ValueError:
        pytest.skip("padding leaves less than the filter")
    assert upfirdn2d_module._fits_matmul(x, f, up, padding)
    torch.testing.assert_close(upfirdn2d(x, f, **kwargs), expected, rtol=1e-12, atol=1e-12)


def test_the_matrix_path_has_the_reference_gradients_and_stays_off_for_large_images():
    f = setup_filter(torch.arange(1.0, 13.0), separable=True)
    x = torch.randn(1, 4, 20, 24, requires_grad=True)
    upfirdn2d(x, f, up=2, padding=[3, 4, 5, 6]).square().sum().backward()
    fast = x.grad.clone()
    x.grad = None
    upfirdn2d(x, f, up=2, padding=[3, 4, 5, 6], impl="ref").square().sum().backward()
    torch.testing.assert_close(fast, x.grad, rtol=1e-4, atol=1e-4)
    large = torch.zeros(1, 1, 8, upfirdn2d_module.MATMUL_MAX_SIZE + 1)
    assert not upfirdn2d_module._fits_matmul(large, f, 1, 0)
    assert not upfirdn2d_module._fits_matmul(x, f[None], 1, 0)  # 2-D filters keep the convolution
