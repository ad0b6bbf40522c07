"""2-D convolution with up- or downsampling through a low-pass filter (the StyleGAN2 conv layers)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from stylegan.ops.upfirdn2d import Padding, filter_size, parse_padding, upfirdn2d


def conv2d_resample(
    x: torch.Tensor,  # [N, in_channels, H, W]
    w: torch.Tensor,  # [out_channels, in_channels // groups, kh, kw], same dtype as x
    f: torch.Tensor | None = None,  # low-pass filter from setup_filter(); None = identity
    up: int = 1,  # upsampling factor
    down: int = 1,  # downsampling factor
    padding: Padding = 0,  # counted on the upsampled signal, applied once before the convolution
    groups: int = 1,
    flip_weight: bool = True,  # True: correlation with w (torch's conv2d), False: convolution
    flip_filter: bool = False,  # False: convolution with f, True: correlation
) -> torch.Tensor:
    """Convolve x with w, upsampling before and downsampling after through the low-pass filter f.

    By definition: upfirdn2d(x, f, up, padding + the filter's own padding, gain=up**2), then the valid convolution
    with w, then filtering with f and keeping every `down`-th sample. The computation takes cheaper but
    equal routes: the convolution and the filter commute, so upsampling is done as a strided transposed
    convolution (which skips the inserted zeros) and downsampling as a strided convolution after the filter.
    """
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"x and w must be 4-D, not shapes {list(x.shape)} and {list(w.shape)}")
    if not all(isinstance(v, int) and v >= 1 for v in (up, down, groups)):
        raise ValueError(f"up, down and groups must be positive integers, not {up!r}, {down!r}, {groups!r}")
    kh, kw = w.shape[2:]
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    # The filter's own padding, as in upsample2d / downsample2d, keeps the output aligned with the input.
    if up > 1:
        px0, px1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2
        py0, py1 = py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2
    if down > 1:
        px0, px1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2
        py0, py1 = py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2
    pad = [px0, px1, py0, py1]
    pointwise = kh == 1 and kw == 1

    if up > 1:
        if pointwise:
            # A 1x1 convolution commutes with zero insertion, so it runs at the low resolution.
            x = _conv2d(x, w, groups, flip_weight)
            x = upfirdn2d(x, f, up=up, padding=pad, gain=up**2, flip_filter=flip_filter)
        else:
            x = _upsampling_conv2d(x, w, f, up, pad, groups, flip_weight, flip_filter)
        if down > 1:
            x = upfirdn2d(x, f, down=down, flip_filter=flip_filter)
        return x

    if down > 1:
        if pointwise:
            x = upfirdn2d(x, f, down=down, padding=pad, flip_filter=flip_filter)
            return _conv2d(x, w, groups, flip_weight)
        x = upfirdn2d(x, f, padding=pad, flip_filter=flip_filter)
        return _conv2d(x, w, groups, flip_weight, stride=down)

    if px0 == px1 >= 0 and py0 == py1 >= 0:
        return _conv2d(x, w, groups, flip_weight, padding=(py0, px0))
    return _conv2d(upfirdn2d(x, None, padding=pad), w, groups, flip_weight)


def _conv2d(
    x: torch.Tensor,
    w: torch.Tensor,
    groups: int,
    flip_weight: bool,
    stride: int = 1,
    padding: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    if not flip_weight:
        w = w.flip([2, 3])  # conv2d correlates; mirroring w turns it into a convolution
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def _upsampling_conv2d(
    x: torch.Tensor,
    w: torch.Tensor,
    f: torch.Tensor | None,
    up: int,
    pad: list[int],
    groups: int,
    flip_weight: bool,
    flip_filter: bool,
) -> torch.Tensor:
    """Zero insertion, padding `pad`, filtering with f and convolution with w, computed without the zeros.

    Filter and convolution commute, so the convolution can go first. Correlating the zero-inserted signal with
    w after padding it by (k - 1) before and (k - up) after is exactly conv_transpose2d(x, mirrored w,
    stride=up). Padding by `pad` instead only adds zeros to, or crops, the convolution's result; that
    difference becomes the padding of the filtering step.
    """
    out_channels, in_per_group, kh, kw = w.shape
    if flip_weight:
        w = w.flip([2, 3])  # conv_transpose2d convolves; a correlation needs the mirrored kernel
    # conv_transpose2d wants [in_channels, out_channels // groups, kh, kw].
    w = w.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
    w = w.reshape(groups * in_per_group, out_channels // groups, kh, kw)
    x = F.conv_transpose2d(x, w, stride=up, groups=groups)
    px0, px1, py0, py1 = pad
    shifted = [px0 - (kw - 1), px1 - (kw - up), py0 - (kh - 1), py1 - (kh - up)]
    return upfirdn2d(x, f, padding=shifted, gain=up**2, flip_filter=flip_filter)
