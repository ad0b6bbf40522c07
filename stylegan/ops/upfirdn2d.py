"""Upsample, FIR filter, downsample: the resampling primitive of StyleGAN2 and StyleGAN3."""

from __future__ import annotations

import torch

from stylegan.ops._dispatch import check_impl

Pair = int | tuple[int, int] | list[int]


def _pair(value: Pair, what: str) -> tuple[int, int]:
    """(x, y) from an int or an [x, y] pair."""
    pair = (value, value) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"{what} must be a positive int or [x, y] pair, not {value!r}")
    return pair


def parse_padding(padding: int | list[int] | tuple[int, ...]) -> tuple[int, int, int, int]:
    """(x0, x1, y0, y1) from an int, an [x, y] pair or four values."""
    if isinstance(padding, int):
        return padding, padding, padding, padding
    values = [int(p) for p in padding]
    if len(values) == 2:
        return values[0], values[0], values[1], values[1]
    if len(values) == 4:
        return values[0], values[1], values[2], values[3]
    raise ValueError(f"padding must be an int, [x, y] or [x0, x1, y0, y1], not {padding!r}")


def filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """(width, height) of a filter; 1-D filters are separable and square."""
    if f is None:
        return 1, 1
    if f.ndim not in (1, 2):
        raise ValueError(f"filters are 1-D (separable) or 2-D, not {f.ndim}-D")
    return f.shape[-1], f.shape[0]


def setup_filter(
    f,
    device: torch.device | str = "cpu",
    normalize: bool = True,  # scale the taps to sum to 1 (per axis for separable filters)
    flip_filter: bool = False,
    gain: float = 1,  # overall gain, split evenly over the axes of a separable filter
    separable: bool | None = None,  # None: separable when f is 1-D and has at least 8 taps
) -> torch.Tensor:
    """A float32 filter tensor ready for `upfirdn2d` from a list / array / tensor of taps (None = [1])."""
    if f is None:
        f = 1
    f = torch.as_tensor(f, dtype=torch.float32)
    if f.ndim == 0:
        f = f[None]
    if f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError("filters are non-empty 1-D or 2-D tap arrays")
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = f.outer(f)
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))
    return f.to(device=device)


def upfirdn2d(
    x: torch.Tensor,  # [N, C, H, W]
    f: torch.Tensor | None,  # float32 filter: 1-D (applied along both axes) or 2-D; None = identity
    up: Pair = 1,  # integer upsampling factor (zero insertion), int or [x, y]
    down: Pair = 1,  # integer downsampling factor (decimation), int or [x, y]
    padding: int | list[int] = 0,  # after upsampling: int, [x, y] or [x0, x1, y0, y1]; negative crops
    flip_filter: bool = False,  # False: convolution (the filter is flipped); True: correlation
    gain: float = 1,  # overall signal gain
    impl: str = "auto",
) -> torch.Tensor:
    """Upsample by zero insertion, pad, filter with f, then keep every `down`-th sample."""
    check_impl(impl)
    if x.ndim != 4:
        raise ValueError(f"x must be [N, C, H, W], got {list(x.shape)}")
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    if f.ndim not in (1, 2):
        raise ValueError(f"filters are 1-D (separable) or 2-D, not {f.ndim}-D")
    upx, upy = _pair(up, "up")
    downx, downy = _pair(down, "down")
    px0, px1, py0, py1 = parse_padding(padding)
    batch, channels, height, width = x.shape
    if width * upx + px0 + px1 < f.shape[-1] or height * upy + py0 + py1 < f.shape[0]:
        raise ValueError("the padded, upsampled input is smaller than the filter")

    if upx > 1 or upy > 1:
        x = x.reshape(batch, channels, height, 1, width, 1)
        x = torch.nn.functional.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
        x = x.reshape(batch, channels, height * upy, width * upx)
    x = torch.nn.functional.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0) : x.shape[2] - max(-py1, 0), max(-px0, 0) : x.shape[3] - max(-px1, 0)]

    f = (f * gain ** (f.ndim / 2)).to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))  # conv2d correlates; flipping makes it a true convolution
    if f.ndim == 2:
        weight = f[None, None].expand(channels, 1, *f.shape)
        x = torch.nn.functional.conv2d(x, weight, groups=channels)
    else:
        taps = f[None, None].expand(channels, 1, f.shape[0])
        x = torch.nn.functional.conv2d(x, taps.unsqueeze(2), groups=channels)
        x = torch.nn.functional.conv2d(x, taps.unsqueeze(3), groups=channels)
    return x[:, :, ::downy, ::downx]


def filter2d(x, f, padding=0, flip_filter=False, gain=1, impl="auto") -> torch.Tensor:
    """Filter without resampling; padding is added so the output keeps the input size when padding=0."""
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    pad = [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=pad, flip_filter=flip_filter, gain=gain, impl=impl)


def upsample2d(x, f, up=2, padding=0, flip_filter=False, gain=1, impl="auto") -> torch.Tensor:
    """Upsample by `up` with filter f; the gain of up**2 keeps the signal's magnitude."""
    upx, upy = _pair(up, "up")
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    pad = [
        px0 + (fw + upx - 1) // 2,
        px1 + (fw - upx) // 2,
        py0 + (fh + upy - 1) // 2,
        py1 + (fh - upy) // 2,
    ]
    return upfirdn2d(
        x, f, up=(upx, upy), padding=pad, flip_filter=flip_filter, gain=gain * upx * upy, impl=impl
    )


def downsample2d(x, f, down=2, padding=0, flip_filter=False, gain=1, impl="auto") -> torch.Tensor:
    """Filter with f, then downsample by `down`."""
    downx, downy = _pair(down, "down")
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    pad = [
        px0 + (fw - downx + 1) // 2,
        px1 + (fw - downx) // 2,
        py0 + (fh - downy + 1) // 2,
        py1 + (fh - downy) // 2,
    ]
    return upfirdn2d(x, f, down=(downx, downy), padding=pad, flip_filter=flip_filter, gain=gain, impl=impl)
