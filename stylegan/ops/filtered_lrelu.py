"""Bias, upsampling, leaky ReLU, clamp and downsampling: the alias-free nonlinearity of StyleGAN3."""

from __future__ import annotations

import math

import torch

from stylegan.ops._dispatch import check_impl
from stylegan.ops.bias_act import bias_act
from stylegan.ops.upfirdn2d import filter_size, parse_padding, upfirdn2d


def filtered_lrelu(
    x: torch.Tensor,  # [N, C, H, W]
    fu: torch.Tensor | None = None,  # upsampling filter (1-D separable or 2-D); None = identity
    fd: torch.Tensor | None = None,  # downsampling filter; None = identity
    b: torch.Tensor | None = None,  # bias [C], added before upsampling
    up: int = 1,  # upsampling factor
    down: int = 1,  # downsampling factor
    padding: int | list[int] = 0,  # padding of the upsampled signal: int, [x, y] or [x0, x1, y0, y1]
    gain: float = math.sqrt(2),  # gain after the leaky ReLU
    slope: float = 0.2,  # negative slope of the leaky ReLU
    clamp: float | None = None,  # clamp after the gain; None = no clamping
    flip_filter: bool = False,  # correlation instead of convolution with the filters
    impl: str = "auto",
) -> torch.Tensor:
    """x + b, upsampled through fu, leaky ReLU * gain, clamped, downsampled through fd.

    The nonlinearity runs at the higher sampling rate so that the harmonics it creates can be removed by fd
    before decimation (StyleGAN3, Sec. 3.2).
    """
    check_impl(impl)
    if x.ndim != 4:
        raise ValueError(f"x must be [N, C, H, W], got {list(x.shape)}")
    if not (isinstance(up, int) and up >= 1 and isinstance(down, int) and down >= 1):
        raise ValueError(f"up and down must be positive ints, not {up!r} and {down!r}")
    if gain <= 0 or slope < 0 or (clamp is not None and clamp < 0):
        raise ValueError("gain must be positive, slope and clamp non-negative")
    pad = parse_padding(padding)
    fu_w, fu_h = filter_size(fu)
    fd_w, fd_h = filter_size(fd)
    height, width = x.shape[2:]
    out_w = (width * up + pad[0] + pad[1] - (fu_w - 1) - (fd_w - 1) + (down - 1)) // down
    out_h = (height * up + pad[2] + pad[3] - (fu_h - 1) - (fd_h - 1) + (down - 1)) // down

    x = bias_act(x, b)
    x = upfirdn2d(x, fu, up=up, padding=pad, gain=up**2, flip_filter=flip_filter)
    x = bias_act(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp)
    x = upfirdn2d(x, fd, down=down, flip_filter=flip_filter)
    assert x.shape[2:] == (out_h, out_w), (x.shape, out_h, out_w)
    return x
