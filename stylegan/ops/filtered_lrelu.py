"""The alias-free nonlinearity of StyleGAN3: bias, upsample, leaky ReLU, clamp, downsample."""

from __future__ import annotations

import math

import torch

from stylegan.ops._dispatch import check_impl
from stylegan.ops.bias_act import bias_act
from stylegan.ops.upfirdn2d import Padding, upfirdn2d


def filtered_lrelu(
    x: torch.Tensor,  # [N, C, H, W]
    fu: torch.Tensor | None = None,  # upsampling filter: [n] separable or [height, width]; None = identity
    fd: torch.Tensor | None = None,  # downsampling filter, same forms
    b: torch.Tensor | None = None,  # bias [C], added before upsampling
    up: int = 1,  # upsampling factor
    down: int = 1,  # downsampling factor
    padding: Padding = 0,  # zeros added to the upsampled signal before fu; negative values crop
    gain: float = math.sqrt(2),  # scale after the leaky ReLU
    slope: float = 0.2,  # leaky ReLU slope for negative inputs
    clamp: float | None = None,  # clamp the scaled activation to [-clamp, clamp]; None = no clamping
    flip_filter: bool = False,  # False: convolution with fu and fd, True: correlation
    impl: str = "auto",  # 'auto' or 'ref'
) -> torch.Tensor:
    """Add b; upsample by `up` through fu (gain up**2); leaky ReLU times gain; clamp; fd, keep every `down`-th.

    The nonlinearity runs at the higher rate so that fd can remove the high frequencies it creates before
    decimation. Output size per axis: (in * up + pad_before + pad_after - (fu_taps - 1) - (fd_taps - 1)
    + down - 1) // down.
    """
    impl = check_impl(impl)  # 'auto': the resampling takes upfirdn2d's fast path where it has one
    return _filtered_lrelu_ref(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter, impl)


def _filtered_lrelu_ref(
    x: torch.Tensor,
    fu: torch.Tensor | None,
    fd: torch.Tensor | None,
    b: torch.Tensor | None,
    up: int,
    down: int,
    padding: Padding,
    gain: float,
    slope: float,
    clamp: float | None,
    flip_filter: bool,
    impl: str = "ref",
) -> torch.Tensor:
    if x.ndim != 4:
        raise ValueError(f"x must be [N, C, H, W], not shape {list(x.shape)}")
    if b is not None and (b.ndim != 1 or b.shape[0] != x.shape[1]):
        raise ValueError(f"bias of shape {list(b.shape)} does not match the {x.shape[1]} channels of x")
    if not (isinstance(up, int) and up >= 1 and isinstance(down, int) and down >= 1):
        raise ValueError(f"up and down must be positive integers, not {up!r} and {down!r}")
    if not gain > 0 or not slope >= 0 or (clamp is not None and not clamp >= 0):
        raise ValueError(f"need gain > 0, slope >= 0 and clamp None or >= 0; got {gain}, {slope}, {clamp}")

    x = bias_act(x, b)
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=up**2, flip_filter=flip_filter, impl=impl)
    x = bias_act(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp)
    return upfirdn2d(x, fd, down=down, flip_filter=flip_filter, impl=impl)
