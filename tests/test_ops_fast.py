"""The fast filtered_lrelu path equals the reference: values and gradients, float32 and float64, across up/down
factors, filter shapes and sizes, paddings, flip_filter, clamp and bias, with and without its compiled CPU
kernel; and the implementation choice."""

import itertools
import zlib

import numpy as np
import pytest
import torch
from tiny import latents, tiny_generator

from stylegan.ops import _dispatch, native
from stylegan.ops import filtered_lrelu as filtered_lrelu_module
from stylegan.ops.filtered_lrelu import filtered_lrelu

TOLERANCE = {torch.float64: dict(rtol=1e-10, atol=1e-10), torch.float32: dict(rtol=1e-4, atol=1e-4)}


def _assert_close(actual, expected, dtype):
    """Within float rounding, relative to the largest value (the clamp folds the gain in a different order)."""
    scale = max(1.0, expected.abs().max().item())
    tolerance = TOLERANCE[dtype]
    torch.testing.assert_close(actual, expected, rtol=tolerance["rtol"], atol=tolerance["atol"] * scale)


def _filter(kind: str, taps: int, rng: np.random.Generator, dtype) -> torch.Tensor | None:
    if kind == "none":
        return None
    shape = [taps] if kind == "separable" else [max(taps - 1, 1), taps]
    return torch.from_numpy(rng.random(shape) + 0.1).to(dtype)


CASES = list(
    itertools.product(
        [1, 2, 4],  # up
        [1, 2, 4],  # down
        ["separable", "2d", "none"],  # filter kind
        [[9, 8, 9, 8], [-3, -4, 2, 1], 0, [6, -1, 5, 2]],  # padding
    )
)


def _compare(x, fu, fd, b, dtype, **kwargs):
    x = x.to(dtype).requires_grad_()
    b = None if b is None else b.to(dtype).requires_grad_()
    try:
        expected = filtered_lrelu(x, fu, fd, b, impl="ref", **kwargs)
    except ValueError:
        return False  # the padding leaves less than the filters; the fast path must refuse the same way
    actual = filtered_lrelu(x, fu, fd, b, impl="fast", **kwargs)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    _assert_close(actual, expected, dtype)
    grad_out = torch.randn(expected.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    inputs = [x] if b is None else [x, b]
    expected_grads = torch.autograd.grad(expected, inputs, grad_out.to(dtype))
    actual_grads = torch.autograd.grad(actual, inputs, grad_out.to(dtype))
    for got, want in zip(actual_grads, expected_grads, strict=True):
        _assert_close(got, want, dtype)
    return True


@pytest.mark.parametrize(
    ("dtype", "compiled"), [(torch.float64, False), (torch.float32, False), (torch.float32, True)]
)
@pytest.mark.parametrize(("up", "down", "kind", "padding"), CASES)
def test_fast_filtered_lrelu_matches_the_reference_with_gradients(
    monkeypatch, dtype, compiled, up, down, kind, padding
):
    """Float32 runs twice: on the compiled CPU kernel where it takes the case (test_ops_native.py), and on
    the PyTorch passes alone."""
    monkeypatch.setenv(native.ENV_VARIABLE, "always" if compiled else "0")
    rng = np.random.default_rng(zlib.crc32(f"{up} {down} {kind} {padding}".encode()))
    taps_up, taps_down = int(rng.choice([2, 5, 6 * up])), int(rng.choice([3, 4, 6 * down]))
    fu = _filter(kind, taps_up, rng, dtype)
    fd = _filter("separable" if kind == "2d" and rng.random() < 0.5 else kind, taps_down, rng, dtype)
    x = torch.from_numpy(rng.standard_normal((2, 3, int(rng.integers(7, 14)), int(rng.integers(7, 14)))))
    b = torch.from_numpy(rng.standard_normal(3))
    ran = False
    for flip_filter, clamp, bias in [
        (False, None, True),
        (True, 0.4, False),
        (False, 0.7, True),
        (True, None, False),
    ]:
        kwargs = dict(
            up=up, down=down, padding=padding, flip_filter=flip_filter, clamp=clamp, gain=1.3, slope=0.2
        )
        ran |= _compare(x, fu, fd, b if bias else None, dtype, **kwargs)
    if not ran:
        pytest.skip("the padding leaves less than the filters")


def test_fast_path_at_the_layer_shapes_of_the_presets_and_with_torgb_settings():
    rng = np.random.default_rng(0)
    fu12, fu24, fd12 = (torch.from_numpy(rng.random(n)).float() for n in (12, 24, 12))
    x = torch.from_numpy(rng.standard_normal((1, 4, 38, 38))).float() * 100  # big enough to hit the clamp
    b = torch.from_numpy(rng.standard_normal(4)).float()
    for fu, up, padding in [
        (fu12, 2, [9, 8, 9, 8]),
        (fu24, 4, [-6, -9, -6, -9]),
        (fu12, 2, [-11, -12, -11, -12]),
    ]:
        _compare(x, fu, fd12, b, torch.float32, up=up, down=2, padding=padding, clamp=256)
    _compare(x, None, None, b, torch.float32, gain=1, slope=1, clamp=256)  # ToRGB


def test_the_preset_layers_crop_inside_the_transposed_convolutions():
    """Every layer of the presets crops its upsampled signal by the same amount at both ends, so the transposed
    convolutions skip those samples (their padding argument) instead of computing them and then copying the
    rest out of a view (the values are the tests above)."""
    filters = {taps: torch.rand(taps) + 0.1 for taps in (12, 24)}
    for size, up, padding, crop in [
        (38, 2, [9, 8, 9, 8], (2, 2)),
        (54, 4, [-6, -9, -6, -9], (21, 21)),
        (86, 2, [-11, -12, -11, -12], (10, 10)),
    ]:
        x = torch.randn(1, 2, size, size)
        plan = filtered_lrelu_module._plan(x, filters[6 * up], filters[12], up, 2, padding)
        passes = filtered_lrelu_module._depthwise_weights(filters[6 * up], 2, up**2, False, x)
        assert filtered_lrelu_module._transposed_crop(plan, passes) == crop


def test_fast_path_leaves_its_input_alone_and_has_second_order_gradients():
    x = torch.randn(1, 2, 6, 5, dtype=torch.float64)
    before = x.clone()
    filtered_lrelu(x, None, None, None, padding=1, impl="fast")
    assert torch.equal(x, before)
    fu, fd = torch.rand(4, dtype=torch.float64), torch.rand(4, dtype=torch.float64)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    x.requires_grad_()

    def op(x, b):
        return filtered_lrelu(x, fu, fd, b, up=2, down=2, padding=[3, 2, 3, 2], clamp=1.0, impl="fast")

    assert torch.autograd.gradcheck(op, (x, b), eps=1e-6, atol=1e-5)
    assert torch.autograd.gradgradcheck(op, (x, b), eps=1e-6, atol=1e-5)


def test_trainable_filters_take_the_reference():
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64)
    fu = torch.rand(4, dtype=torch.float64, requires_grad=True)
    y = filtered_lrelu(x, fu, None, None, up=2, padding=[2, 1, 2, 1])
    (grad,) = torch.autograd.grad(y.sum(), fu)
    assert grad.abs().sum() > 0


def test_the_environment_chooses_the_implementation_behind_auto(monkeypatch):
    monkeypatch.delenv(_dispatch.ENV_VARIABLE, raising=False)
    assert _dispatch.resolve_impl("auto") == "fast"
    monkeypatch.setenv(_dispatch.ENV_VARIABLE, "ref")
    assert _dispatch.resolve_impl("auto") == "ref"
    assert _dispatch.resolve_impl("fast") == "fast"  # an explicit choice wins over the environment
    monkeypatch.setenv(_dispatch.ENV_VARIABLE, "cuda")
    with pytest.raises(ValueError, match="STYLEGAN_OPS"):
        filtered_lrelu(torch.zeros(1, 1, 4, 4))


@pytest.mark.parametrize(("architecture", "radial"), [("stylegan-xl", False), ("stylegan3", True)])
def test_whole_generators_draw_the_same_images_with_fast_and_reference_ops(monkeypatch, architecture, radial):
    G = tiny_generator(architecture, radial=radial)
    z, c = latents(G, n=2)
    images = {}
    for impl in ("ref", "fast"):
        monkeypatch.setenv(_dispatch.ENV_VARIABLE, impl)
        with torch.no_grad():
            ws = G.mapping(z, c)
            images[impl] = (ws, G.synthesis(ws))
    torch.testing.assert_close(images["fast"][0], images["ref"][0], rtol=0, atol=1e-4)
    torch.testing.assert_close(images["fast"][1], images["ref"][1], rtol=0, atol=1e-3)
