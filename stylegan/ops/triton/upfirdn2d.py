"""upfirdn2d as a Triton kernel: polyphase, so that the inserted zeros are never read and only the kept outputs
are computed; a separable filter runs as two passes (along x, then along y), as in the reference.

The gradient is the same op with up and down swapped, the taps mirrored and the padding moved; it runs the
same kernel and is itself differentiable, so second-order gradients stay on the kernel too.
"""

from __future__ import annotations

from functools import partial

import torch
import triton
import triton.language as tl

from stylegan.ops import _dispatch
from stylegan.ops.upfirdn2d import Factor, Padding, _upfirdn2d_ref, parse_arguments

MAX_BLOCK = 256  # output samples per program

Pair = tuple[int, int]
Pads = tuple[int, int, int, int]


@triton.jit
def _upfirdn2d_kernel(
    x_ptr, w_ptr, y_ptr, channels, in_h, in_w, out_h, out_w, sxn, sxc, sxh, sxw, pad_x, pad_y, tiles,
    UP_X: tl.constexpr, UP_Y: tl.constexpr, DOWN_X: tl.constexpr, DOWN_Y: tl.constexpr,
    TAPS_H: tl.constexpr, TAPS_W: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """One tile of one [N, C] plane of the output: a correlation with the [TAPS_H, TAPS_W] float32 taps."""
    pid = tl.program_id(0)
    plane = pid // tiles
    offsets = (pid % tiles) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < out_h * out_w
    oy = offsets // out_w
    ox = offsets % out_w
    # Tap k of output o reads sample o * down + k - pad of the upsampled signal: input (o * down + k - pad) / up
    # where that is a whole number, a zero elsewhere. So only every up-th tap counts, from the first k0 that
    # divides. (Triton's % keeps the dividend's sign, hence the second %.)
    uy = oy * DOWN_Y - pad_y
    ux = ox * DOWN_X - pad_x
    ky0 = ((-uy) % UP_Y + UP_Y) % UP_Y
    kx0 = ((-ux) % UP_X + UP_X) % UP_X
    iy0 = (uy + ky0) // UP_Y  # exact divisions
    ix0 = (ux + kx0) // UP_X
    n = plane // channels
    c = plane % channels
    x_plane = x_ptr + n.to(tl.int64) * sxn + c.to(tl.int64) * sxc
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for ty in range((TAPS_H + UP_Y - 1) // UP_Y):
        ky = ky0 + ty * UP_Y
        iy = iy0 + ty
        row_ok = mask & (ky < TAPS_H) & (iy >= 0) & (iy < in_h)
        for tx in range((TAPS_W + UP_X - 1) // UP_X):
            kx = kx0 + tx * UP_X
            ix = ix0 + tx
            ok = row_ok & (kx < TAPS_W) & (ix >= 0) & (ix < in_w)
            v = tl.load(x_plane + iy.to(tl.int64) * sxh + ix * sxw, mask=ok, other=0.0)
            w = tl.load(w_ptr + ky * TAPS_W + kx, mask=ok, other=0.0)
            acc += v.to(tl.float32) * w
    y = y_ptr + plane.to(tl.int64) * out_h * out_w + offsets
    tl.store(y, acc.to(y_ptr.dtype.element_ty), mask=mask)


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: Factor = 1,
    down: Factor = 1,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1,
) -> torch.Tensor:
    """stylegan.ops.upfirdn2d.upfirdn2d (the same arguments less impl) in Triton; x float16 or float32.

    The filter is a constant here: no gradient flows to it.
    """
    f, up, down, padding = parse_arguments(x, f, up, down, padding)
    if x.dtype not in _dispatch.TRITON_DTYPES:
        raise ValueError(f"the Triton upfirdn2d takes float16 or float32, not {x.dtype}")
    # Correlation taps in float32, the gain folded in as in the reference (a separable filter carries its root).
    taps = f.detach().to(device=x.device, dtype=torch.float32) * gain ** (f.ndim / 2)
    if not flip_filter:
        taps = taps.flip(list(range(taps.ndim)))
    return _Upfirdn2d.apply(x, taps, up, down, padding)


class _Upfirdn2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, taps, up: Pair, down: Pair, padding: Pads):
        ctx.taps, ctx.up, ctx.down, ctx.padding, ctx.size = taps, up, down, padding, x.shape[2:]
        if taps.ndim == 2:
            return _launch(x, taps, up, down, padding)
        (upx, upy), (downx, downy), (px0, px1, py0, py1) = up, down, padding
        x = _launch(x, taps[None, :], (upx, 1), (downx, 1), (px0, px1, 0, 0))
        return _launch(x, taps[:, None], (1, upy), (1, downy), (0, 0, py0, py1))

    @staticmethod
    def backward(ctx, dy):
        # Output o reads input j through tap j * up + pad0 - o * down; the adjoint reads dy through the mirrored
        # tap with down and up swapped, pad0' = taps - 1 - pad0, and pad1' so that it gives back the input size.
        (upx, upy), (downx, downy), (px0, _, py0, _) = ctx.up, ctx.down, ctx.padding
        taps_h, taps_w = ctx.taps.shape[0], ctx.taps.shape[-1]
        (in_h, in_w), (out_h, out_w) = ctx.size, dy.shape[2:]
        padding = (
            taps_w - 1 - px0,
            in_w * upx - out_w * downx + px0 - upx + 1,
            taps_h - 1 - py0,
            in_h * upy - out_h * downy + py0 - upy + 1,
        )
        args = (dy, ctx.taps.flip(list(range(ctx.taps.ndim))), ctx.down, ctx.up, padding)
        dx = _dispatch.run_triton(
            "upfirdn2d", partial(_Upfirdn2d.apply, *args), partial(_correlate_ref, *args)
        )
        return dx, None, None, None, None


def _correlate_ref(x, taps, up: Pair, down: Pair, padding: Pads) -> torch.Tensor:
    """The reference with correlation taps that already carry the gain."""
    return _upfirdn2d_ref(x, taps, up, down, padding, flip_filter=True, gain=1)


def _launch(x: torch.Tensor, taps: torch.Tensor, up: Pair, down: Pair, padding: Pads) -> torch.Tensor:
    """One kernel pass with [taps_h, taps_w] correlation taps; the output is contiguous."""
    (upx, upy), (downx, downy), (px0, px1, py0, py1) = up, down, padding
    batch, channels, in_h, in_w = x.shape
    taps_h, taps_w = taps.shape
    out_h = (in_h * upy + py0 + py1 - taps_h) // downy + 1
    out_w = (in_w * upx + px0 + px1 - taps_w) // downx + 1
    y = torch.empty([batch, channels, out_h, out_w], dtype=x.dtype, device=x.device)
    if y.numel():
        block = min(MAX_BLOCK, max(16, triton.next_power_of_2(out_h * out_w)))
        tiles = triton.cdiv(out_h * out_w, block)
        _upfirdn2d_kernel[(batch * channels * tiles,)](
            x, taps.contiguous(), y, channels, in_h, in_w, out_h, out_w, *x.stride(), px0, py0, tiles,
            UP_X=upx, UP_Y=upy, DOWN_X=downx, DOWN_Y=downy, TAPS_H=taps_h, TAPS_W=taps_w, BLOCK=block,
        )  # fmt: skip
    return y
