"""Convolution with optional up- or downsampling through a low-pass filter (the StyleGAN2 layers)."""

from __future__ import annotations

import torch

from stylegan.ops.upfirdn2d import filter_size, parse_padding, upfirdn2d


def _conv2d(x: torch.Tensor, w: torch.Tensor, groups: int, flip_weight: bool) -> torch.Tensor:
    if not flip_weight:
        w = w.flip([2, 3])  # conv2d correlates; flipping makes it a convolution
    return torch.nn.functional.conv2d(x, w, groups=groups)


def _transposed_weight(w: torch.Tensor, groups: int) -> torch.Tensor:
    """[O, I/g, kh, kw] -> the [I, O/g, kh, kw] layout of conv_transpose2d."""
    out_channels, in_per_group, kh, kw = w.shape
    w = w.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
    return w.reshape(groups * in_per_group, out_channels // groups, kh, kw)


def conv2d_resample(
    x: torch.Tensor,  # [N, I, H, W]
    w: torch.Tensor,  # [O, I / groups, kh, kw]
    f: torch.Tensor | None = None,  # low-pass filter from setup_filter(), for up/downsampling
    up: int = 1,  # integer upsampling factor
    down: int = 1,  # integer downsampling factor
    padding: int | list[int] = 0,  # with respect to the upsampled image: int, [x, y] or [x0, x1, y0, y1]
    groups: int = 1,
    flip_weight: bool = True,  # True: correlation (torch's conv2d), False: convolution
    flip_filter: bool = False,  # False: convolution with f, True: correlation
) -> torch.Tensor:
    """Upsample (zero insertion + f), pad, convolve with w, then filter with f and decimate.

    Padding is applied once, before the convolution. Upsampling is computed as a transposed convolution, which
    skips the inserted zeros; the result is the same as the plain composition.
    """
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError("x and w must be 4-D")
    if not (isinstance(up, int) and up >= 1 and isinstance(down, int) and down >= 1):
        raise ValueError(f"up and down must be positive ints, not {up!r} and {down!r}")
    kh, kw = w.shape[2:]
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2

    if up > 1:
        # Zero insertion followed by a correlation with w equals a transposed convolution with w flipped,
        # shifted by (k - 1) at the start and (k - up) at the end; that shift folds into the filter's padding.
        weight = _transposed_weight(w if not flip_weight else w.flip([2, 3]), groups)
        x = torch.nn.functional.conv_transpose2d(x, weight, stride=up, groups=groups)
        pad = [px0 - (kw - 1), px1 - (kw - up), py0 - (kh - 1), py1 - (kh - up)]
        x = upfirdn2d(x, f, padding=pad, gain=up**2, flip_filter=flip_filter)
    else:
        x = upfirdn2d(x, None, padding=[px0, px1, py0, py1])
        x = _conv2d(x, w, groups, flip_weight)
    if down > 1:
        x = upfirdn2d(x, f, down=down, flip_filter=flip_filter)
    return x
