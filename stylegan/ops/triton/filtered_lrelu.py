"""filtered_lrelu as one fused Triton kernel per pass: forward, backward and double backward.

Along one axis, upsampling by `up` through a FIR filter is a banded matrix A: intermediate sample m reads
input j through tap j * up + pad0 - m, so each row holds only the taps of one polyphase component and the
inserted zeros never exist. Downsampling is a matrix D whose rows are the kept outputs only: output o reads
intermediate sample m through tap m - o * down. A separable filter acts on a tile X as A_y @ X @ A_x^T, a 2-D
filter as a short sum of such products (its singular value decomposition, terms below float32 resolution
dropped). One program computes an output tile of one channel plane:

    load the input tile (+ bias)  ->  A_y X A_x^T  ->  leaky ReLU, gain, clamp  ->  D_y Z D_x^T  ->  store

with every matrix built in registers from the taps and every product a `tl.dot`; the intermediate tile never
leaves the chip. The forward pass records, per intermediate sample, whether the activation was positive,
negative or clamped (one byte, written by exactly one tile), as the official CUDA kernel keeps a sign tensor.

The backward pass is the same kernel on the transposed matrices: dY = D^T dOut, times the recorded
derivative, then dX = A^T dY. For fixed records it is linear in dOut, so its own gradient is again the forward
structure with the records in place of the activation: second-order gradients are exact (the derivative of the
piecewise linear activation is constant almost everywhere, as in the reference). Filters that require grad
take the reference, which differentiates them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
import triton
import triton.language as tl
from torch.utils.weak import WeakIdKeyDictionary

from stylegan.ops.filtered_lrelu import _check_arguments, _filtered_lrelu_ref
from stylegan.ops.upfirdn2d import parse_padding

# Codes of the recorded activation derivative, one uint8 per intermediate sample; 0 also outside the signal.
_CLAMPED = tl.constexpr(0)
_NEGATIVE = tl.constexpr(1)
_POSITIVE = tl.constexpr(2)
_TABLE_COLUMNS = tl.constexpr(6)  # per tile: dst_start, dst_end, mid_start, src_start, own_start, own_end


@triton.jit
def _band(taps_ptr, taps_len, rows, cols, row_step: tl.constexpr, col_step: tl.constexpr, offset):
    """The matrix taps[row * row_step + col * col_step + offset] over rows x cols, zero off the filter."""
    index = rows[:, None] * row_step + cols[None, :] * col_step + offset
    return tl.load(taps_ptr + index, mask=(index >= 0) & (index < taps_len), other=0.0)


@triton.jit
def _filtered_lrelu_kernel(
    src_ptr,
    dst_ptr,
    bias_ptr,
    codes_ptr,
    taps1_ptr,  # [terms, 2 (y, x), taps1_len] float32 taps of the first resampling
    taps2_ptr,
    table_y_ptr,  # [tiles, _TABLE_COLUMNS] int32 per axis
    table_x_ptr,
    tiles_x,
    channels,
    src_h,
    src_w,
    mid_h,
    mid_w,
    dst_h,
    dst_w,
    taps1_len,
    taps2_len,
    offset1_y,
    offset1_x,
    offset2_y,
    offset2_x,
    gain,
    slope,
    clamp,
    ROW_STEP1: tl.constexpr,
    COL_STEP1: tl.constexpr,
    ROW_STEP2: tl.constexpr,
    COL_STEP2: tl.constexpr,
    TERMS1: tl.constexpr,
    TERMS2: tl.constexpr,
    SRC_Y: tl.constexpr,
    SRC_X: tl.constexpr,
    MID_Y: tl.constexpr,
    MID_X: tl.constexpr,
    DST_Y: tl.constexpr,
    DST_X: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    HAS_CLAMP: tl.constexpr,
    RECORD: tl.constexpr,  # store the activation codes of the samples this tile owns
    REPLAY: tl.constexpr,  # multiply by the recorded derivative instead of applying the activation
    PRECISION: tl.constexpr,
):
    plane = tl.program_id(0).to(tl.int64)
    tile = tl.program_id(1)
    row_y = table_y_ptr + (tile // tiles_x) * _TABLE_COLUMNS
    row_x = table_x_ptr + (tile % tiles_x) * _TABLE_COLUMNS

    sy = tl.load(row_y + 3) + tl.arange(0, SRC_Y)
    sx = tl.load(row_x + 3) + tl.arange(0, SRC_X)
    inside = (sy < src_h)[:, None] & (sx < src_w)[None, :]
    src_at = src_ptr + plane * src_h * src_w + sy[:, None] * src_w + sx[None, :]
    src = tl.load(src_at, mask=inside, other=0.0)
    if HAS_BIAS:  # only on real samples: the padding stays zero
        src = tl.where(inside, src + tl.load(bias_ptr + plane % channels).to(src.dtype), src)
    dtype = src.dtype

    my = tl.load(row_y + 2) + tl.arange(0, MID_Y)
    mx = tl.load(row_x + 2) + tl.arange(0, MID_X)
    mid = tl.zeros([MID_Y, MID_X], dtype=tl.float32)
    for term in range(TERMS1):
        taps = taps1_ptr + term * 2 * taps1_len
        along_y = _band(taps, taps1_len, my, sy, ROW_STEP1, COL_STEP1, offset1_y).to(dtype)
        along_x = _band(taps + taps1_len, taps1_len, sx, mx, COL_STEP1, ROW_STEP1, offset1_x).to(dtype)
        half = tl.dot(along_y, src, input_precision=PRECISION)
        mid = tl.dot(half.to(dtype), along_x, mid, input_precision=PRECISION)

    in_mid = (my < mid_h)[:, None] & (mx < mid_w)[None, :]
    codes_at = codes_ptr + plane * mid_h * mid_w + my[:, None] * mid_w + mx[None, :]
    if REPLAY:
        code = tl.load(codes_at, mask=in_mid, other=0)
        mid = mid * tl.where(code == _POSITIVE, gain, tl.where(code == _NEGATIVE, gain * slope, 0.0))
    else:
        positive = mid > 0
        mid = tl.where(positive, mid, mid * slope) * gain
        code = tl.where(positive, _POSITIVE, _NEGATIVE)
        if HAS_CLAMP:
            code = tl.where(tl.abs(mid) > clamp, _CLAMPED, code)
            mid = tl.minimum(tl.maximum(mid, -clamp), clamp)
        if RECORD:  # each sample by the one tile that owns it: neighbouring tiles overlap
            own_y = (my >= tl.load(row_y + 4)) & (my < tl.load(row_y + 5))
            own_x = (mx >= tl.load(row_x + 4)) & (mx < tl.load(row_x + 5))
            tl.store(codes_at, code.to(tl.uint8), mask=in_mid & own_y[:, None] & own_x[None, :])
        mid = tl.where(in_mid, mid, 0.0)
    mid = mid.to(dtype)

    dy = tl.load(row_y + 0) + tl.arange(0, DST_Y)
    dx = tl.load(row_x + 0) + tl.arange(0, DST_X)
    dst = tl.zeros([DST_Y, DST_X], dtype=tl.float32)
    for term in range(TERMS2):
        taps = taps2_ptr + term * 2 * taps2_len
        along_y = _band(taps, taps2_len, dy, my, ROW_STEP2, COL_STEP2, offset2_y).to(dtype)
        along_x = _band(taps + taps2_len, taps2_len, mx, dx, COL_STEP2, ROW_STEP2, offset2_x).to(dtype)
        half = tl.dot(along_y, mid, input_precision=PRECISION)
        dst = tl.dot(half.to(dtype), along_x, dst, input_precision=PRECISION)

    keep = (dy < tl.load(row_y + 1))[:, None] & (dx < tl.load(row_x + 1))[None, :]
    dst_at = dst_ptr + plane * dst_h * dst_w + dy[:, None] * dst_w + dx[None, :]
    tl.store(dst_at, dst.to(dst_ptr.dtype.element_ty), mask=keep)


# Set by the same switch (TRITON_INTERPRET) that chose how the kernel above was decorated.
_INTERPRETED = bool(triton.knobs.runtime.interpret)


# ---------------------------------------------------------------------------------------------------------
# Index plans


@dataclass(frozen=True)
class _Rule:
    """One axis of a resampling matrix: entry (row, col) is taps[row * row_step + col * col_step + offset]."""

    row_step: int
    col_step: int
    offset: int
    taps: int  # real taps along this axis (the kernel's taps array may be zero-padded beyond them)

    def cols(self, first: int, last: int) -> tuple[int, int]:
        """The columns rows first..last can reach (a superset where rows skip columns)."""
        lows, highs = [], []
        for row in (first, last):
            lo = -row * self.row_step - self.offset  # col * col_step lies in [lo, lo + taps - 1]
            hi = lo + self.taps - 1
            if self.col_step < 0:
                lo, hi = hi, lo
            lows.append(-(-lo // self.col_step))
            highs.append(hi // self.col_step)
        return min(lows), max(highs)


def _clip(span: tuple[int, int], size: int) -> tuple[int, int]:
    return max(span[0], 0), min(span[1], size - 1)


def _pow2_block(n: int) -> int:
    return max(16, triton.next_power_of_2(max(n, 1)))  # tl.dot wants every dimension >= 16


@dataclass(frozen=True)
class _AxisTiling:
    table: tuple[tuple[int, ...], ...]  # one row of _TABLE_COLUMNS per tile
    blocks: tuple[int, int, int]  # (src, mid, dst) block sizes


def _axis_tiling(tile: int, sizes: tuple[int, int, int], stage1: _Rule, stage2: _Rule) -> _AxisTiling:
    """Tiles of `tile` outputs along one axis, and the intermediate and source samples each one needs."""
    n_src, n_mid, n_dst = sizes
    spans = []
    for start in range(0, n_dst, tile):
        end = min(start + tile, n_dst)
        m0, m1 = _clip(stage2.cols(start, end - 1), n_mid)
        s0, s1 = _clip(stage1.cols(m0, m1), n_src) if m0 <= m1 else (0, -1)
        spans.append((start, end, m0, m1, s0, s1))
    table = []
    for i, (start, end, m0, m1, s0, _) in enumerate(spans):
        # A tile owns its intermediate samples up to where the next one starts, never beyond what it computed.
        own_end = m1 + 1 if i + 1 == len(spans) else min(spans[i + 1][2], m1 + 1)
        table.append((start, end, m0, s0, m0, own_end))
    src_block = _pow2_block(max(s1 - s0 + 1 for *_, s0, s1 in spans))
    mid_block = _pow2_block(max(m1 - m0 + 1 for _, _, m0, m1, _, _ in spans))
    return _AxisTiling(tuple(table), (src_block, mid_block, _pow2_block(tile)))


@dataclass(frozen=True)
class _Geometry:
    """One kernel launch: src -> mid -> dst through two resamplings; (y, x) pairs throughout."""

    stage1: tuple[_Rule, _Rule]
    stage2: tuple[_Rule, _Rule]
    mid: tuple[int, int]
    dst: tuple[int, int]
    blocks: tuple[int, ...]  # SRC_Y, SRC_X, MID_Y, MID_X, DST_Y, DST_X
    tiles: tuple[int, int]
    tables: tuple[torch.Tensor, torch.Tensor]  # int32 on the device


MAX_BLOCK = 64  # larger tiles spill registers; 128 only where a filter is too long for 64
MAC_COST = 1 / 32  # a tensor-core multiply-add relative to one element of a tile (an estimate, not measured)


@lru_cache(maxsize=256)
def _geometry(
    src: tuple[int, int],
    mid: tuple[int, int],
    dst: tuple[int, int],
    stage1: tuple[_Rule, _Rule],
    stage2: tuple[_Rule, _Rule],
    terms: tuple[int, int],
    device: torch.device,
) -> _Geometry | None:
    """The cheapest tiling by a rough cost model, or None where no tile fits (then the reference runs)."""
    for limit in (MAX_BLOCK, 2 * MAX_BLOCK):
        per_axis = []
        for a in (0, 1):
            sizes = (src[a], mid[a], dst[a])
            options = [_axis_tiling(t, sizes, stage1[a], stage2[a]) for t in range(1, min(dst[a], limit) + 1)]
            per_axis.append([o for o in options if max(o.blocks) <= limit])
        if per_axis[0] and per_axis[1]:
            break
    else:
        return None

    def cost(ty: _AxisTiling, tx: _AxisTiling) -> float:
        (sy, my, dy), (sx, mx, dx) = ty.blocks, tx.blocks
        macs = terms[0] * (my * sy * sx + my * sx * mx) + terms[1] * (dy * my * mx + dy * mx * dx)
        # Elements of the tiles and band matrices: loads, index arithmetic, the activation, conversions.
        elements = sy * sx + my * mx + dy * dx
        elements += terms[0] * (my * sy + sx * mx + my * sx) + terms[1] * (dy * my + mx * dx + dy * mx)
        return len(ty.table) * len(tx.table) * (macs * MAC_COST + elements)

    ty, tx = min(((a, b) for a in per_axis[0] for b in per_axis[1]), key=lambda pair: cost(*pair))
    tables = tuple(torch.tensor(t.table, dtype=torch.int32, device=device) for t in (ty, tx))
    blocks = (ty.blocks[0], tx.blocks[0], ty.blocks[1], tx.blocks[1], ty.blocks[2], tx.blocks[2])
    return _Geometry(stage1, stage2, mid, dst, blocks, (len(ty.table), len(tx.table)), tables)


# ---------------------------------------------------------------------------------------------------------
# Filters as separable terms


_FACTORS = WeakIdKeyDictionary()  # 2-D filter -> (its version, u [terms, h], v [terms, w]) on its device


def _factors(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """u, v with f = sum_r outer(u[r], v[r]) to float32 resolution.

    Memoized per filter tensor: the decomposition reads the taps on the host, and filters are module buffers
    that stay as they are.
    """
    hit = _FACTORS.get(f)
    if hit is not None and hit[0] == f._version:
        return hit[1], hit[2]
    u, s, vh = torch.linalg.svd(f.detach().to(device="cpu", dtype=torch.float64))
    rank = max(1, int((s > s[0] * 2.0**-24).sum()))
    root = s[:rank].sqrt()
    u = (u[:, :rank] * root).t().to(device=f.device, dtype=torch.float32)
    v = (vh[:rank] * root[:, None]).to(device=f.device, dtype=torch.float32)
    _FACTORS[f] = (f._version, u, v)
    return u, v


def _taps(f: torch.Tensor | None, gain: float, flip_filter: bool, device: torch.device) -> torch.Tensor:
    """[terms, 2, taps] float32 correlation taps along y and x (zero-padded to one length), gain included."""
    if f is None:
        return torch.full([1, 2, 1], math.sqrt(gain), dtype=torch.float32, device=device)
    if f.ndim == 1:
        along_y = along_x = f.detach().to(device=device, dtype=torch.float32)[None]
    else:
        along_y, along_x = _factors(f)
    if not flip_filter:  # a convolution is a correlation with the mirrored taps
        along_y, along_x = along_y.flip(1), along_x.flip(1)
    length = max(along_y.shape[1], along_x.shape[1])
    taps = torch.zeros([along_y.shape[0], 2, length], dtype=torch.float32, device=device)
    taps[:, 0, : along_y.shape[1]] = along_y * math.sqrt(gain)
    taps[:, 1, : along_x.shape[1]] = along_x * math.sqrt(gain)
    return taps


# ---------------------------------------------------------------------------------------------------------
# Launches and autograd


@dataclass(frozen=True)
class _Setup:
    """One call's two geometries and taps, shared by its forward, backward and double-backward launches."""

    forward: _Geometry  # x -> intermediate -> out; also the double backward
    backward: _Geometry  # dOut -> intermediate -> dx
    up_taps: torch.Tensor
    down_taps: torch.Tensor
    gain: float
    slope: float
    clamp: float | None


def _launch(
    geometry: _Geometry,
    setup: _Setup,
    src: torch.Tensor,
    taps1: torch.Tensor,
    taps2: torch.Tensor,
    bias: torch.Tensor | None = None,
    codes: torch.Tensor | None = None,
    record: bool = False,
) -> torch.Tensor:
    """Run the kernel over every plane and tile; with codes and not `record`, replay them."""
    batch, channels, src_h, src_w = src.shape
    dst = torch.empty([batch, channels, *geometry.dst], dtype=src.dtype, device=src.device)
    (rule1_y, rule1_x), (rule2_y, rule2_x) = geometry.stage1, geometry.stage2
    tiles_y, tiles_x = geometry.tiles
    src_y, src_x, mid_y, mid_x, dst_y, dst_x = geometry.blocks
    _filtered_lrelu_kernel[(batch * channels, tiles_y * tiles_x)](
        src,
        dst,
        src if bias is None else bias,
        src if codes is None else codes,
        taps1,
        taps2,
        *geometry.tables,
        tiles_x,
        channels,
        src_h,
        src_w,
        *geometry.mid,
        *geometry.dst,
        taps1.shape[2],
        taps2.shape[2],
        rule1_y.offset,
        rule1_x.offset,
        rule2_y.offset,
        rule2_x.offset,
        setup.gain,
        setup.slope,
        0.0 if setup.clamp is None else setup.clamp,
        ROW_STEP1=rule1_y.row_step,
        COL_STEP1=rule1_y.col_step,
        ROW_STEP2=rule2_y.row_step,
        COL_STEP2=rule2_y.col_step,
        TERMS1=taps1.shape[0],
        TERMS2=taps2.shape[0],
        SRC_Y=src_y,
        SRC_X=src_x,
        MID_Y=mid_y,
        MID_X=mid_x,
        DST_Y=dst_y,
        DST_X=dst_x,
        HAS_BIAS=bias is not None,
        HAS_CLAMP=setup.clamp is not None,
        RECORD=record,
        REPLAY=codes is not None and not record,
        PRECISION="tf32x3" if src.dtype == torch.float32 else "tf32",  # fp16 operands ignore it
        num_warps=8 if max(geometry.blocks) > MAX_BLOCK else 4,
    )
    return dst


class _FilteredLReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, b, setup: _Setup):
        codes = torch.zeros([*x.shape[:2], *setup.forward.mid], dtype=torch.uint8, device=x.device)
        out = _launch(
            setup.forward, setup, x, setup.up_taps, setup.down_taps, bias=b, codes=codes, record=True
        )
        ctx.save_for_backward(codes)
        ctx.setup, ctx.bias_dtype = setup, None if b is None else b.dtype
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (codes,) = ctx.saved_tensors
        grad_x = _FilteredLReLUGrad.apply(grad_out, codes, ctx.setup)
        grad_b = None
        if ctx.needs_input_grad[1]:
            grad_b = grad_x.sum([0, 2, 3], dtype=torch.float32).to(ctx.bias_dtype)
        return grad_x if ctx.needs_input_grad[0] else None, grad_b, None


class _FilteredLReLUGrad(torch.autograd.Function):
    """dx from dOut for fixed activation codes; linear in dOut, so its backward is the exact adjoint."""

    @staticmethod
    def forward(ctx, grad_out, codes, setup: _Setup):
        ctx.save_for_backward(codes)
        ctx.setup = setup
        return _launch(
            setup.backward, setup, grad_out.contiguous(), setup.down_taps, setup.up_taps, codes=codes
        )

    @staticmethod
    def backward(ctx, grad_grad_x):
        (codes,) = ctx.saved_tensors
        setup = ctx.setup
        grad = _launch(
            setup.forward, setup, grad_grad_x.contiguous(), setup.up_taps, setup.down_taps, codes=codes
        )
        return grad, None, None


# ---------------------------------------------------------------------------------------------------------
# Entry point


def _setup(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter) -> _Setup | None:
    """The launches of one call, or None where the kernel does not apply."""
    if x.device.type != ("cpu" if _INTERPRETED else "cuda") or x.dtype not in (torch.float16, torch.float32):
        return None
    if x.numel() == 0 or (b is not None and b.device != x.device):
        return None
    for f in (fu, fd):
        if f is not None and (f.ndim not in (1, 2) or f.numel() == 0 or f.device != x.device):
            return None
        if f is not None and torch.is_grad_enabled() and f.requires_grad:
            return None  # the kernel has no filter gradients
    px0, px1, py0, py1 = parse_padding(padding)
    up_size = (1, 1) if fu is None else (fu.shape[0], fu.shape[-1])  # (height, width)
    down_size = (1, 1) if fd is None else (fd.shape[0], fd.shape[-1])
    src = (x.shape[2], x.shape[3])
    mid = tuple(src[a] * up + p0 + p1 - up_size[a] + 1 for a, (p0, p1) in enumerate([(py0, py1), (px0, px1)]))
    if any(mid[a] < down_size[a] for a in (0, 1)):
        return None  # the reference raises
    dst = tuple((mid[a] - down_size[a] + down) // down for a in (0, 1))
    up_taps = _taps(fu, up**2, flip_filter, x.device)
    down_taps = _taps(fd, 1, flip_filter, x.device)
    # Upsampling: intermediate m reads input j at tap j * up + pad0 - m. Downsampling: output o reads m at
    # tap m - o * down.
    upsample = tuple(_Rule(-1, up, p0, up_size[a]) for a, p0 in enumerate((py0, px0)))
    downsample = tuple(_Rule(-down, 1, 0, down_size[a]) for a in (0, 1))
    # Their transposes swap the roles of rows and columns.
    up_t = tuple(_Rule(r.col_step, r.row_step, r.offset, r.taps) for r in upsample)
    down_t = tuple(_Rule(r.col_step, r.row_step, r.offset, r.taps) for r in downsample)
    terms = (up_taps.shape[0], down_taps.shape[0])
    forward = _geometry(src, mid, dst, upsample, downsample, terms, x.device)
    backward = _geometry(dst, mid, src, down_t, up_t, terms[::-1], x.device)
    if forward is None or backward is None:
        return None
    return _Setup(
        forward,
        backward,
        up_taps,
        down_taps,
        float(gain),
        float(slope),
        None if clamp is None else float(clamp),
    )


def filtered_lrelu(
    x: torch.Tensor,  # [N, C, H, W] float16 or float32
    fu: torch.Tensor | None,  # upsampling filter: [n] separable or [height, width]; None = identity
    fd: torch.Tensor | None,  # downsampling filter, same forms
    b: torch.Tensor | None,  # bias [C], added before upsampling
    up: int,
    down: int,
    padding: list[int],  # [x0, x1, y0, y1] on the upsampled signal; negative values crop
    gain: float,
    slope: float,
    clamp: float | None,
    flip_filter: bool,
) -> torch.Tensor:
    """The fused kernel with the semantics of `_filtered_lrelu_ref`; where it does not apply (other dtypes or
    devices, trainable filters, filters too long for a tile), the reference."""
    _check_arguments(x, b, up, down, gain, slope, clamp)
    setup = _setup(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter)
    if setup is None:
        return _filtered_lrelu_ref(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter)
    x = x.contiguous()
    b = None if b is None else b.contiguous()
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or (b is not None and b.requires_grad))
    if needs_grad:
        return _FilteredLReLU.apply(x, b, setup)
    return _launch(setup.forward, setup, x, setup.up_taps, setup.down_taps, bias=b)
