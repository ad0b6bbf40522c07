"""bias_act as Triton kernels: one elementwise pass forward and one for the gradient, both in float32.

The backward kernel recomputes x + b from the saved input. Second-order gradients (a backward pass with
create_graph=True) differentiate the reference instead.
"""

from __future__ import annotations

from functools import partial

import torch
import triton
import triton.language as tl

from stylegan.ops import _dispatch
from stylegan.ops.bias_act import _bias_act_ref, parse_arguments

ACT_CODES = {
    "linear": 0,
    "relu": 1,
    "lrelu": 2,
    "tanh": 3,
    "sigmoid": 4,
    "elu": 5,
    "selu": 6,
    "softplus": 7,
    "swish": 8,
}
BLOCK = 1024

_SELU_SCALE = tl.constexpr(1.0507009873554804934193349852946)
_SELU_ALPHA = tl.constexpr(1.6732632423543772848170429916717)
_SOFTPLUS_THRESHOLD = tl.constexpr(20.0)  # torch's: above it softplus is the identity


@triton.jit
def _tanh(z):
    e = tl.exp(-2.0 * tl.abs(z))
    t = (1.0 - e) / (1.0 + e)
    return tl.where(z < 0, -t, t)


@triton.jit
def _act(z, alpha, ACT: tl.constexpr):
    """The activation of float32 z (codes in ACT_CODES)."""
    if ACT == 0:
        y = z
    elif ACT == 1:
        y = tl.where(z < 0, 0.0, z)
    elif ACT == 2:
        y = tl.where(z > 0, z, z * alpha)
    elif ACT == 3:
        y = _tanh(z)
    elif ACT == 4:
        y = tl.sigmoid(z)
    elif ACT == 5:
        y = tl.where(z > 0, z, tl.exp(z) - 1.0)
    elif ACT == 6:
        y = _SELU_SCALE * tl.where(z > 0, z, _SELU_ALPHA * (tl.exp(z) - 1.0))
    elif ACT == 7:
        y = tl.where(z > _SOFTPLUS_THRESHOLD, z, tl.log(1.0 + tl.exp(z)))
    else:
        y = z * tl.sigmoid(z)
    return y


@triton.jit
def _act_grad(z, alpha, ACT: tl.constexpr):
    """d act / d z at float32 z, with torch's choice at the kinks."""
    if ACT == 0:
        d = tl.zeros_like(z) + 1.0
    elif ACT == 1:
        d = tl.where(z > 0, 1.0, 0.0)
    elif ACT == 2:
        d = tl.where(z > 0, 1.0, alpha)
    elif ACT == 3:
        t = _tanh(z)
        d = 1.0 - t * t
    elif ACT == 4:
        s = tl.sigmoid(z)
        d = s * (1.0 - s)
    elif ACT == 5:
        d = tl.where(z > 0, 1.0, tl.exp(z))
    elif ACT == 6:
        d = _SELU_SCALE * tl.where(z > 0, 1.0, _SELU_ALPHA * tl.exp(z))
    elif ACT == 7:
        d = tl.where(z > _SOFTPLUS_THRESHOLD, 1.0, tl.sigmoid(z))
    else:
        s = tl.sigmoid(z)
        d = s * (1.0 + z * (1.0 - s))
    return d


@triton.jit
def _biased_input(x_ptr, b_ptr, offsets, mask, bias_stride, bias_size):
    """x + b in float32; b_ptr None for no bias. Element `offset` of x sits at (offset // stride) % size along b."""
    z = tl.load(x_ptr + offsets, mask=mask).to(tl.float32)
    if b_ptr is not None:
        z += tl.load(b_ptr + (offsets // bias_stride) % bias_size, mask=mask).to(tl.float32)
    return z


@triton.jit
def _forward_kernel(
    x_ptr, b_ptr, y_ptr, numel, bias_stride, bias_size, alpha, gain, clamp,
    ACT: tl.constexpr, HAS_CLAMP: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    offsets = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < numel
    y = _act(_biased_input(x_ptr, b_ptr, offsets, mask, bias_stride, bias_size), alpha, ACT) * gain
    if HAS_CLAMP:  # written with where, so that NaN stays NaN as in torch.clamp
        y = tl.where(y > clamp, clamp, tl.where(y < -clamp, -clamp, y))
    tl.store(y_ptr + offsets, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _backward_kernel(
    dy_ptr, x_ptr, b_ptr, dx_ptr, numel, bias_stride, bias_size, alpha, gain, clamp,
    ACT: tl.constexpr, HAS_CLAMP: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    offsets = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < numel
    z = _biased_input(x_ptr, b_ptr, offsets, mask, bias_stride, bias_size)
    d = _act_grad(z, alpha, ACT) * gain
    if HAS_CLAMP:  # torch.clamp passes the gradient where the value lies inside [-clamp, clamp]
        d = tl.where(tl.abs(_act(z, alpha, ACT) * gain) > clamp, 0.0, d)
    dy = tl.load(dy_ptr + offsets, mask=mask).to(tl.float32)
    tl.store(dx_ptr + offsets, (dy * d).to(dx_ptr.dtype.element_ty), mask=mask)


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    dim: int = 1,
    act: str = "linear",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """stylegan.ops.bias_act.bias_act (the same arguments less impl) in Triton; x float16 or float32."""
    _, alpha, gain, dim = parse_arguments(x, b, dim, act, alpha, gain, clamp)
    if x.dtype not in _dispatch.TRITON_DTYPES:
        raise ValueError(f"the Triton bias_act takes float16 or float32, not {x.dtype}")
    return _BiasAct.apply(x, b, dim, act, alpha, gain, None if clamp is None else float(clamp))


Arguments = tuple[int, str, float, float, float | None]  # dim, act, alpha, gain, clamp


class _BiasAct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, b, dim, act, alpha, gain, clamp):
        ctx.save_for_backward(x, b)
        ctx.arguments = (dim, act, alpha, gain, clamp)
        return _launch(_forward_kernel, [], x, b, ctx.arguments)

    @staticmethod
    def backward(ctx, dy):
        x, b = ctx.saved_tensors
        need = ctx.needs_input_grad[:2]
        reference = partial(_reference_gradients, x, b, dy, ctx.arguments, need)
        if torch.is_grad_enabled():  # create_graph=True: only the reference has a graph of its gradient
            grads = reference()
        else:
            grads = _dispatch.run_triton(
                "bias_act", partial(_gradients, x, b, dy, ctx.arguments, need), reference
            )
        return (*grads, None, None, None, None, None)


def _dense(t: torch.Tensor) -> torch.Tensor:
    """t itself when contiguous or channels-last (its elements fill its memory without gaps), else a copy."""
    channels_last = t.ndim == 4 and t.is_contiguous(memory_format=torch.channels_last)
    return t if t.is_contiguous() or channels_last else t.contiguous()


def _launch(kernel, extra: list[torch.Tensor], x: torch.Tensor, b, arguments: Arguments) -> torch.Tensor:
    """Run an elementwise kernel over x in memory order; `extra` tensors come first and get x's layout."""
    dim, act, alpha, gain, clamp = arguments
    x = _dense(x)
    out = torch.empty_like(x)  # the same strides as the dense x
    extra = [t if t.stride() == x.stride() else torch.empty_like(x).copy_(t) for t in extra]
    if x.numel():
        stride, size = (max(x.stride(dim), 1), x.shape[dim]) if b is not None else (1, 1)
        bias = None if b is None else b.to(x.dtype)  # rounded as the reference rounds it
        kernel[(triton.cdiv(x.numel(), BLOCK),)](
            *extra, x, bias, out, x.numel(), stride, size, alpha, gain, 0.0 if clamp is None else clamp,
            ACT=ACT_CODES[act], HAS_CLAMP=clamp is not None, BLOCK=BLOCK,
        )  # fmt: skip
    return out


def _gradients(x, b, dy, arguments: Arguments, need: tuple[bool, bool]):
    """(dx, db) from the backward kernel; None where not needed."""
    dz = _launch(_backward_kernel, [dy], x, b, arguments)
    db = None
    if b is not None and need[1]:
        dims = [i for i in range(x.ndim) if i != arguments[0]]
        db = (dz.sum(dims, dtype=torch.float32) if dims else dz.float()).to(b.dtype)  # sum([]) sums all
    return dz if need[0] else None, db


def _reference_gradients(x, b, dy, arguments: Arguments, need: tuple[bool, bool]):
    """(dx, db) by differentiating the reference, with a graph when the backward pass builds one."""
    create_graph = torch.is_grad_enabled()
    inputs = [t for t, wanted in zip((x, b), need, strict=True) if wanted]
    with torch.enable_grad():
        y = _bias_act_ref(x, b, *arguments)
        grads = iter(torch.autograd.grad(y, inputs, dy, create_graph=create_graph))
    return tuple(next(grads) if wanted else None for wanted in need)
