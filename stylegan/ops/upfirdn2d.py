"""Upsample, FIR-filter, downsample: the resampling primitive of StyleGAN2 and StyleGAN3.

Filter conventions (shared by every op in this package): a 1-D filter is separable and runs along x, then
along y; a 2-D filter is indexed [y, x]. `flip_filter=False` is a true convolution, which mirrors the filter
relative to torch's conv2d (a correlation); `flip_filter=True` is the correlation. The distinction matters only
for asymmetric filters. Padding is counted on the upsampled signal; negative padding crops.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from functools import partial

import numpy as np
import torch

from stylegan.ops import _dispatch
from stylegan.ops._dispatch import resolve_impl

Factor = int | Sequence[int]  # one value for both axes, or [x, y]
Padding = int | Sequence[int]  # p, [px, py] or [x_before, x_after, y_before, y_after]

_CPU = torch.device("cpu")


def _as_ints(value: int | Sequence[int], what: str) -> list[int]:
    """[value] for a single integer (numpy integers included), else the sequence's items as ints."""
    try:
        return [operator.index(value)]
    except TypeError:
        pass
    try:
        return [operator.index(v) for v in value]
    except TypeError:
        raise ValueError(f"{what} must be an integer or a sequence of integers, not {value!r}") from None


def parse_scaling(factor: Factor, what: str = "scaling factor") -> tuple[int, int]:
    """(x, y) factors from an int or an [x, y] pair; each at least 1."""
    values = _as_ints(factor, what)
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or min(values) < 1:
        raise ValueError(f"{what} must be a positive int or an [x, y] pair, not {factor!r}")
    return values[0], values[1]


def parse_padding(padding: Padding) -> tuple[int, int, int, int]:
    """(x_before, x_after, y_before, y_after) from an int, an [x, y] pair or four values."""
    values = _as_ints(padding, "padding")
    if len(values) == 1:
        return values[0], values[0], values[0], values[0]
    if len(values) == 2:
        return values[0], values[0], values[1], values[1]
    if len(values) == 4:
        return values[0], values[1], values[2], values[3]
    raise ValueError(f"padding must be an int, [x, y] or [x0, x1, y0, y1], not {padding!r}")


def filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """(width, height) of a filter; a separable 1-D filter is as tall as it is wide, None is 1x1."""
    if f is None:
        return 1, 1
    if f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(f"a filter is a non-empty 1-D (separable) or 2-D tensor, not shape {list(f.shape)}")
    return int(f.shape[-1]), int(f.shape[0])


def setup_filter(
    f: torch.Tensor | np.ndarray | Sequence | float | None,  # [n] or [height, width] taps; None = identity
    device: torch.device | str = _CPU,
    normalize: bool = True,  # scale the taps so that a constant signal keeps its value
    flip_filter: bool = False,  # mirror the taps along every axis
    gain: float = 1,  # overall signal gain; a separable filter carries sqrt(gain) per axis
    separable: bool | None = None,  # None: keep a 1-D filter separable only when it has 8 or more taps
) -> torch.Tensor:
    """A float32 filter for the ops in this package, from a list, array or tensor of taps.

    A short 1-D filter becomes its 2-D outer product unless `separable=True`; one 2-D pass is cheaper than two
    1-D passes when the filter is small. The input is never modified.
    """
    if f is None:
        f = 1
    f = torch.as_tensor(f, dtype=torch.float32).detach().clone()
    if f.ndim == 0:
        f = f.reshape(1)
    if f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(f"filter taps must be a non-empty 1-D or 2-D array, not shape {list(f.shape)}")
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if separable and f.ndim == 2:
        raise ValueError("a 2-D filter cannot be made separable; pass its 1-D taps instead")
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))
    return f.to(device=device)


def upfirdn2d(
    x: torch.Tensor,  # [N, C, H, W]
    f: torch.Tensor | None,  # filter from setup_filter(): [n] separable or [height, width]; None = identity
    up: Factor = 1,  # upsampling by zero insertion: int or [x, y]
    down: Factor = 1,  # downsampling by keeping every `down`-th sample: int or [x, y]
    padding: Padding = 0,  # zeros added to the upsampled signal; negative values crop
    flip_filter: bool = False,  # False: convolution with f, True: correlation
    gain: float = 1,  # overall scale of the output
    impl: str = "auto",  # 'auto', 'ref' or 'fast': Triton on CUDA (see stylegan.ops._dispatch)
) -> torch.Tensor:
    """Insert up-1 zeros after each sample, pad, filter (keeping only fully covered outputs), decimate.

    Output size per axis: (in * up + pad_before + pad_after - (taps - 1) + down - 1) // down.
    """
    args = (x, f, up, down, padding, flip_filter, gain)
    if resolve_impl(impl) == "fast":
        if _dispatch.wants_triton("upfirdn2d", x, f):
            parse_arguments(x, f, up, down, padding)  # the caller's errors come before any kernel
            return _dispatch.run_triton(
                "upfirdn2d", partial(_triton_upfirdn2d, *args), partial(_upfirdn2d_ref, *args)
            )
        if _fits_matmul(x, f, up, padding):
            return _upfirdn2d_matmul(*args)
    return _upfirdn2d_ref(*args)


def _triton_upfirdn2d(*args) -> torch.Tensor:
    from stylegan.ops.triton.upfirdn2d import upfirdn2d as kernel  # imports triton, hence only here

    return kernel(*args)


# Up to this many (upsampled) samples per axis, a dense resampling matrix beats the depthwise convolutions on a
# CPU: it skips the inserted zeros and the discarded outputs and runs as one matrix product per axis.
MATMUL_MAX_SIZE = 192


def _fits_matmul(x: torch.Tensor, f: torch.Tensor | None, up: Factor, padding: Padding) -> bool:
    """A small separable case on the CPU; anything else (bad arguments included) goes to the reference."""
    if x.device.type != "cpu" or f is None or f.ndim != 1 or x.ndim != 4 or not x.is_floating_point():
        return False
    upx, upy = parse_scaling(up, "up")
    px0, px1, py0, py1 = parse_padding(padding)
    width, height, taps = x.shape[3] * upx, x.shape[2] * upy, f.shape[0]
    padded_fits = width + px0 + px1 >= taps and height + py0 + py1 >= taps
    return padded_fits and width <= MATMUL_MAX_SIZE and height <= MATMUL_MAX_SIZE


def resampling_matrix(
    taps: torch.Tensor,  # [n] correlation taps, gain included
    size: int,  # input samples
    up: int,
    down: int,
    pad0: int,
    pad1: int,
) -> torch.Tensor:
    """[out, size]: upfirdn along one axis as a matrix. Output m reads input k through tap k*up + pad0 - m*down."""
    count = taps.shape[0]
    out = (size * up + pad0 + pad1 - count + down) // down
    j = (
        torch.arange(size, device=taps.device)[None, :] * up
        + pad0
        - torch.arange(out, device=taps.device)[:, None] * down
    )
    inside = (j >= 0) & (j < count)
    return torch.where(
        inside, taps[j.clamp(0, count - 1)], torch.zeros((), dtype=taps.dtype, device=taps.device)
    )


def _upfirdn2d_matmul(
    x: torch.Tensor,
    f: torch.Tensor,
    up: Factor,
    down: Factor,
    padding: Padding,
    flip_filter: bool,
    gain: float,
) -> torch.Tensor:
    """The same result as `_upfirdn2d_ref` for a separable filter, as A_y @ x @ A_x^T."""
    upx, upy = parse_scaling(up, "up")
    downx, downy = parse_scaling(down, "down")
    px0, px1, py0, py1 = parse_padding(padding)
    height, width = x.shape[2], x.shape[3]
    h = (f.to(x.device) * gain**0.5).to(x.dtype)
    if not flip_filter:
        h = h.flip(0)
    along_x = resampling_matrix(h, width, upx, downx, px0, px1)
    along_y = resampling_matrix(h, height, upy, downy, py0, py1)
    return along_y @ (x @ along_x.t())


def parse_arguments(
    x: torch.Tensor, f: torch.Tensor | None, up: Factor, down: Factor, padding: Padding
) -> tuple[torch.Tensor, tuple[int, int], tuple[int, int], tuple[int, int, int, int]]:
    """(filter, (upx, upy), (downx, downy), (px0, px1, py0, py1)), a 1x1 filter for None; ValueError for bad ones."""
    if x.ndim != 4:
        raise ValueError(f"x must be [N, C, H, W], not shape {list(x.shape)}")
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    fw, fh = filter_size(f)
    upx, upy = parse_scaling(up, "up")
    downx, downy = parse_scaling(down, "down")
    px0, px1, py0, py1 = parse_padding(padding)
    height, width = x.shape[2], x.shape[3]
    if width * upx + px0 + px1 < fw or height * upy + py0 + py1 < fh:
        raise ValueError(
            f"the padded, upsampled input ({height * upy + py0 + py1}x{width * upx + px0 + px1}) "
            f"is smaller than the {fh}x{fw} filter"
        )
    return f, (upx, upy), (downx, downy), (px0, px1, py0, py1)


def _upfirdn2d_ref(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: Factor,
    down: Factor,
    padding: Padding,
    flip_filter: bool,
    gain: float,
) -> torch.Tensor:
    f, (upx, upy), (downx, downy), (px0, px1, py0, py1) = parse_arguments(x, f, up, down, padding)
    fw, fh = filter_size(f)
    batch, channels, height, width = x.shape

    # Zero insertion: give every sample a trailing block of zeros, then fold the blocks back into the image.
    if upx > 1 or upy > 1:
        x = x.reshape(batch, channels, height, 1, width, 1)
        x = torch.nn.functional.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
        x = x.reshape(batch, channels, height * upy, width * upx)

    x = torch.nn.functional.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0) : x.shape[2] - max(-py1, 0), max(-px0, 0) : x.shape[3] - max(-px1, 0)]

    # The gain goes into the taps while they are still float32, so half-precision inputs lose nothing extra.
    f = (f.to(x.device) * gain ** (f.ndim / 2)).to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))  # conv2d correlates; mirroring the taps turns it into a convolution
    if f.ndim == 2:
        x = torch.nn.functional.conv2d(x, f.expand(channels, 1, fh, fw), groups=channels)
    else:
        x = torch.nn.functional.conv2d(x, f.expand(channels, 1, 1, fw), groups=channels)
        x = torch.nn.functional.conv2d(x, f.reshape(fh, 1).expand(channels, 1, fh, 1), groups=channels)
    return x[:, :, ::downy, ::downx]


def filter2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    padding: Padding = 0,  # on top of the padding that keeps the size
    flip_filter: bool = False,
    gain: float = 1,
    impl: str = "auto",
) -> torch.Tensor:
    """Filter without resampling; with padding=0 the output has the input's size."""
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    pad = [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=pad, flip_filter=flip_filter, gain=gain, impl=impl)


def upsample2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: Factor = 2,
    padding: Padding = 0,  # on top of the padding that makes the output exactly `up` times larger
    flip_filter: bool = False,
    gain: float = 1,
    impl: str = "auto",
) -> torch.Tensor:
    """Upsample through f; the extra gain of up_x * up_y makes up for the inserted zeros."""
    upx, upy = parse_scaling(up, "up")
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    pad = [
        px0 + (fw + upx - 1) // 2,
        px1 + (fw - upx) // 2,
        py0 + (fh + upy - 1) // 2,
        py1 + (fh - upy) // 2,
    ]
    return upfirdn2d(
        x, f, up=[upx, upy], padding=pad, flip_filter=flip_filter, gain=gain * upx * upy, impl=impl
    )


def downsample2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    down: Factor = 2,
    padding: Padding = 0,  # on top of the padding that makes the output exactly `down` times smaller
    flip_filter: bool = False,
    gain: float = 1,
    impl: str = "auto",
) -> torch.Tensor:
    """Low-pass filter with f, then keep every `down`-th sample."""
    downx, downy = parse_scaling(down, "down")
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    pad = [
        px0 + (fw - downx + 1) // 2,
        px1 + (fw - downx) // 2,
        py0 + (fh - downy + 1) // 2,
        py1 + (fh - downy) // 2,
    ]
    return upfirdn2d(x, f, down=[downx, downy], padding=pad, flip_filter=flip_filter, gain=gain, impl=impl)
