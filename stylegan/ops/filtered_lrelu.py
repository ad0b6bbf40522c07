"""The alias-free nonlinearity of StyleGAN3: bias, upsample, leaky ReLU, clamp, downsample.

Two implementations behind one call. The reference is the definition: zero insertion, FIR filter, leaky ReLU,
FIR filter, decimation, each a separate op. The fast path computes the same thing without the wasted work:

- upsampling is a strided depthwise transposed convolution (polyphase: the inserted zeros are never
  multiplied), downsampling a strided depthwise convolution (the FIR runs only at the kept positions);
- a separable filter runs as two 1-D passes, a 2-D filter as one pass;
- input samples that reach only cropped outputs are dropped before upsampling, and the padding or cropping
  of the upsampled signal is a view whenever it only crops;
- bias, leaky ReLU, gain and clamp are one autograd node: the gain moves into the downsampling taps, the
  activation runs in place on the upsampled buffer, and the backward pass uses one multiplier computed from
  the saved activation (zero where the clamp was hit), as the official CUDA kernel does;
- on the CPU the passes run on channels-last tensors, where the depthwise kernels are faster;
- where a C compiler is at hand, float32 calls with separable filters run the forward pass as one compiled
  kernel instead (stylegan.ops.native), which saves the activation's derivative for the same backward.

Trainable filters (a filter that requires grad), other dtypes and non-CPU devices take the reference.
"""

from __future__ import annotations

import math
from functools import cached_property, lru_cache, partial

import torch
import torch.nn.functional as F

from stylegan.ops import _dispatch
from stylegan.ops._dispatch import resolve_impl
from stylegan.ops.bias_act import bias_act
from stylegan.ops.native import filtered_lrelu as native_filtered_lrelu
from stylegan.ops.upfirdn2d import Padding, filter_size, parse_padding, upfirdn2d


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
    impl: str = "auto",  # 'auto', 'ref' or 'fast' (see stylegan.ops._dispatch)
) -> torch.Tensor:
    """Add b; upsample by `up` through fu (gain up**2); leaky ReLU times gain; clamp; fd, keep every `down`-th.

    The nonlinearity runs at the higher rate so that fd can remove the high frequencies it creates before
    decimation. Output size per axis: (in * up + pad_before + pad_after - (fu_taps - 1) - (fd_taps - 1)
    + down - 1) // down.
    """
    chosen = resolve_impl(impl)
    _check_arguments(x, b, up, down, gain, slope, clamp)
    if chosen == "fast":
        args = (x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter)
        if _dispatch.wants_triton("filtered_lrelu", x, fu, fd):
            return _dispatch.run_triton(
                "filtered_lrelu", partial(_triton_filtered_lrelu, *args), partial(_filtered_lrelu_ref, *args)
            )
        plan = _plan(x, fu, fd, up, down, padding)
        if plan is not None and not _filters_need_grad(fu, fd):
            # Grad mode is read here: inside forward() it is always off, and needs_input_grad stays true
            # under no_grad for inputs that require grad (a generator's own biases).
            return _FusedFilteredLReLU.apply(
                x, b, fu, fd, plan, float(gain), float(slope), clamp, flip_filter, torch.is_grad_enabled()
            )
    return _filtered_lrelu_ref(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter)


def _triton_filtered_lrelu(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter) -> torch.Tensor:
    from stylegan.ops.triton.filtered_lrelu import filtered_lrelu as kernel  # imports triton, hence only here

    return kernel(x, fu, fd, b, up, down, list(parse_padding(padding)), gain, slope, clamp, flip_filter)


def _check_arguments(x, b, up, down, gain, slope, clamp) -> None:
    if x.ndim != 4:
        raise ValueError(f"x must be [N, C, H, W], not shape {list(x.shape)}")
    if b is not None and (b.ndim != 1 or b.shape[0] != x.shape[1]):
        raise ValueError(f"bias of shape {list(b.shape)} does not match the {x.shape[1]} channels of x")
    if not (isinstance(up, int) and up >= 1 and isinstance(down, int) and down >= 1):
        raise ValueError(f"up and down must be positive integers, not {up!r} and {down!r}")
    if not gain > 0 or not slope >= 0 or (clamp is not None and not clamp >= 0):
        raise ValueError(f"need gain > 0, slope >= 0 and clamp None or >= 0; got {gain}, {slope}, {clamp}")


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
    impl: str = "ref",  # of the upfirdn2d calls
) -> torch.Tensor:
    _check_arguments(x, b, up, down, gain, slope, clamp)
    x = bias_act(x, b)
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=up**2, flip_filter=flip_filter, impl=impl)
    x = bias_act(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp)
    return upfirdn2d(x, fd, down=down, flip_filter=flip_filter, impl=impl)


# ---------------------------------------------------------------------------------------------------------
# The fast path


def _filters_need_grad(*filters: torch.Tensor | None) -> bool:
    """The fused node differentiates x and b only; trainable filters take the reference."""
    return torch.is_grad_enabled() and any(f is not None and f.requires_grad for f in filters)


class _Axis:
    """Index bookkeeping of one axis: which inputs to keep, and how the upsampled signal is padded or cropped.

    The transposed convolution of the kept inputs x[first : last + 1] gives samples t[0 : length] of the full
    convolution of the zero-inserted signal, shifted by first * up. The upsampled, padded signal of the
    definition is t[start : start + size], zero where that runs outside t.
    """

    def __init__(self, n: int, up: int, up_taps: int, down: int, down_taps: int, pad0: int, pad1: int):
        self.size = n * up + pad0 + pad1 - up_taps + 1  # samples seen by the nonlinearity
        self.out = (self.size - down_taps + down) // down
        shift = up_taps - 1 - pad0  # where sample 0 of the padded signal sits in the full convolution
        # Input j reaches full-convolution samples j * up ... j * up + up_taps - 1.
        self.first = max(0, -((up_taps - 1 - shift) // up))
        self.last = min(n - 1, (shift + self.size - 1) // up)
        self.before, self.after = self.first, n - 1 - self.last  # inputs dropped at each end
        self.length = (self.last - self.first) * up + up_taps
        self.start = shift - self.first * up
        self.ok = self.size >= down_taps and self.out >= 1 and self.last >= self.first

    def pad(self) -> tuple[int, int]:
        """F.pad amounts that turn t into the padded signal (negative values crop)."""
        return -self.start, self.start + self.size - self.length


class _Plan:
    def __init__(self, up: int, down: int, x_axis: _Axis, y_axis: _Axis, padding: tuple[int, int, int, int]):
        self.up, self.down, self.x, self.y, self.padding = up, down, x_axis, y_axis, padding


def _plan(x, fu, fd, up, down, padding) -> _Plan | None:
    """The index plan of the fast path, or None where the reference should run (and raise, if it must)."""
    # The CPU part of the fast-ops work; other devices keep the reference until they have been measured there.
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64) or x.numel() == 0:
        return None
    for f in (fu, fd):
        if f is not None and (f.ndim not in (1, 2) or f.numel() == 0):
            return None
    return _shaped_plan(
        tuple(x.shape[2:]), filter_size(fu), filter_size(fd), up, down, parse_padding(padding)
    )


@lru_cache(maxsize=1024)
def _shaped_plan(size, up_size, down_size, up, down, padding) -> _Plan | None:
    """_plan of the integers it depends on, computed once per layer shape."""
    (height, width), (uw, uh), (dw, dh), (px0, px1, py0, py1) = size, up_size, down_size, padding
    x_axis = _Axis(width, up, uw, down, dw, px0, px1)
    y_axis = _Axis(height, up, uh, down, dh, py0, py1)
    if not (x_axis.ok and y_axis.ok):
        return None
    return _Plan(up, down, x_axis, y_axis, padding)


Pass = tuple[torch.Tensor, bool, bool]  # a [C, 1, kh, kw] kernel, and whether it resamples along y and x


def _depthwise_weights(
    f: torch.Tensor | None, channels: int, gain: float, flip: bool, x: torch.Tensor
) -> list:
    """The passes of a filter on x's device and dtype: two for a separable filter, one for a 2-D filter, a 1x1
    gain for no filter (none at all when that gain is 1)."""
    if f is None:
        if gain == 1:
            return []
        return [(torch.full([channels, 1, 1, 1], gain, dtype=x.dtype, device=x.device), True, True)]
    # The gain goes into the taps while they are still float32, as in the reference.
    f = f.to(x.device) * gain ** (f.ndim / 2)
    if flip:
        f = f.flip(list(range(f.ndim)))
    f = f.to(x.dtype)
    layout = _layout(x)
    if f.ndim == 2:
        return [(f.expand(channels, 1, *f.shape).contiguous(memory_format=layout), True, True)]
    taps = f.shape[0]
    return [(f.reshape(1, 1, 1, taps).expand(channels, 1, 1, taps).contiguous(memory_format=layout), False, True),
            (f.reshape(1, 1, taps, 1).expand(channels, 1, taps, 1).contiguous(memory_format=layout), True, False)]  # fmt: skip


def _strides(along_y: bool, along_x: bool, factor: int) -> tuple[int, int]:
    return factor if along_y else 1, factor if along_x else 1


# On the CPU the depthwise (transposed) convolutions run measurably faster on channels-last tensors; the
# conversions are made at the low input and output resolution only.
CHANNELS_LAST_ON_CPU = True


def _layout(x: torch.Tensor) -> torch.memory_format:
    use = CHANNELS_LAST_ON_CPU and x.device.type == "cpu"
    return torch.channels_last if use else torch.contiguous_format


class _FusedFilteredLReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, b, fu, fd, plan: _Plan, gain, slope, clamp, flip_filter, grad_enabled):
        keep = grad_enabled and (ctx.needs_input_grad[0] or ctx.needs_input_grad[1])
        limit = None if clamp is None else clamp / gain
        passes = _Passes(fu, fd, x.shape[1], gain, flip_filter, x.new_empty(0), plan)
        compiled_saved = None  # what the compiled kernel keeps for the backward pass
        if native_filtered_lrelu.supports(x, fu, fd, plan.up, plan.down):
            args = (x, fu, fd, b, plan.up, plan.down, plan.padding, gain, slope, clamp, flip_filter, keep)
            out, compiled_saved = native_filtered_lrelu.forward(*args)
        else:
            out, y = _forward_passes(x, b, plan, passes.up, passes.down, slope, limit)
        if keep:
            # The activation's derivative, where the compiled kernel computed it; else y, which gives it.
            ctx.save_for_backward(y if compiled_saved is None else compiled_saved.derivative)
            ctx.compiled_saved, ctx.passes = compiled_saved, passes
            ctx.plan, ctx.slope, ctx.limit, ctx.has_bias = plan, slope, limit, b is not None
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved_tensors
        if ctx.compiled_saved is not None and not torch.is_grad_enabled():
            # The compiled backward pass; a double backward (create_graph) takes the PyTorch passes below,
            # which autograd can differentiate.
            grad = native_filtered_lrelu.backward(grad_out, ctx.compiled_saved)
            return _input_gradients(ctx, grad)
        plan, passes = ctx.plan, ctx.passes
        px, py = plan.x, plan.y
        grad_out = grad_out.contiguous(memory_format=_layout(grad_out))
        grad = _downsample_adjoint(grad_out, passes.down, plan.down, py.size, px.size)
        if ctx.compiled_saved is not None:
            multiplier = ctx.compiled_saved.natural_derivative()
        else:
            multiplier = _activation_derivative(y, ctx.slope, ctx.limit)
        if multiplier is not None:
            grad = grad * multiplier
        if passes.crop is None:
            (x0, x1), (y0, y1) = px.pad(), py.pad()
            grad = F.pad(grad, [-x0, -x1, -y0, -y1])  # the adjoint of padding is cropping and vice versa
        grad = _upsample_adjoint(grad, passes.up, plan.up, passes.crop)
        if px.before or px.after or py.before or py.after:
            grad = F.pad(grad, [px.before, px.after, py.before, py.after])
        return _input_gradients(ctx, grad.contiguous())


class _Passes:
    """The depthwise passes of the PyTorch forward and backward, made when first used (a call that the compiled
    kernel runs forward and backward never needs them).

    conv_transpose2d convolves, conv2d correlates: the upsampling taps are mirrored for flip_filter, the
    downsampling taps without it. The output gain of the activation moves into the downsampling."""

    def __init__(
        self, fu, fd, channels: int, gain: float, flip_filter: bool, like: torch.Tensor, plan: _Plan
    ):
        self._arguments = (fu, fd, channels, gain, flip_filter, like, plan)

    @cached_property
    def up(self) -> list[Pass]:
        fu, _, channels, _, flip_filter, like, plan = self._arguments
        return _depthwise_weights(fu, channels, plan.up**2, flip_filter, like)

    @cached_property
    def down(self) -> list[Pass]:
        _, fd, channels, gain, flip_filter, like, _ = self._arguments
        return _depthwise_weights(fd, channels, gain, not flip_filter, like)

    @cached_property
    def crop(self) -> tuple[int, int] | None:
        return _transposed_crop(self._arguments[-1], self.up)


def _input_gradients(ctx, grad: torch.Tensor) -> tuple:
    """The backward pass's result from the gradient with respect to x plus b."""
    grad_b = grad.sum([0, 2, 3]) if ctx.has_bias and ctx.needs_input_grad[1] else None
    grad_x = grad if ctx.needs_input_grad[0] else None
    return grad_x, grad_b, None, None, None, None, None, None, None, None


def _activation_derivative(y: torch.Tensor, slope: float, limit: float | None) -> torch.Tensor | None:
    """The derivative of the activation from its output: 1 or slope by the sign (the gain sits in the
    downsampling taps), 0 where the clamp was hit; None where it is 1 everywhere."""
    multiplier = None
    if slope != 1:
        multiplier = (y > 0).to(y.dtype).mul_(1 - slope).add_(slope)
    if limit is not None:
        hit = y.abs() >= limit
        multiplier = (~hit).to(y.dtype) if multiplier is None else multiplier.masked_fill_(hit, 0)
    return multiplier


def _forward_passes(x, b, plan: _Plan, up_weights, down_weights, slope, limit):
    """The forward pass in PyTorch ops: (output, activation before the downsampling)."""
    layout = _layout(x)
    px, py = plan.x, plan.y
    if px.before or px.after or py.before or py.after:
        x = x[:, :, py.first : py.last + 1, px.first : px.last + 1]
    if b is not None:  # the bias and the change of layout in one pass
        x = torch.add(x, b.to(x.dtype).reshape(1, -1, 1, 1), out=torch.empty_like(x, memory_format=layout))
    x = x.contiguous(memory_format=layout)
    if b is None and not up_weights:
        x = x.clone()  # the activation runs in place and must not write to the caller's x
    crop = _transposed_crop(plan, up_weights)
    y = _upsample(x, up_weights, plan.up, crop)
    if crop is None:
        (x0, x1), (y0, y1) = px.pad(), py.pad()
        if x0 <= 0 and x1 <= 0 and y0 <= 0 and y1 <= 0:
            y = y[:, :, -y0 : y.shape[2] + y1, -x0 : y.shape[3] + x1]
        else:
            y = F.pad(y, [x0, x1, y0, y1])
    if slope != 1:
        F.leaky_relu_(y, slope)
    if limit is not None:
        y.clamp_(-limit, limit)
    return _downsample(y, down_weights, plan.down).contiguous(), y


def _transposed_crop(plan: _Plan, passes: list[Pass]) -> tuple[int, int] | None:
    """(rows, columns) that the transposed convolutions crop from each end of their output, where that is the
    whole cropping of the upsampled signal: it has to crop, by the same amount at both ends of each axis, as
    every layer of the presets does. The cropped samples are then never computed nor copied."""
    (x0, x1), (y0, y1) = plan.x.pad(), plan.y.pad()
    if not passes or x0 != x1 or y0 != y1 or x0 > 0 or y0 > 0:
        return None
    return -y0, -x0


def _pass_crop(crop: tuple[int, int] | None, along_y: bool, along_x: bool) -> tuple[int, int]:
    rows, columns = crop or (0, 0)
    return rows if along_y else 0, columns if along_x else 0


def _upsample(x: torch.Tensor, passes: list[Pass], up: int, crop: tuple[int, int] | None) -> torch.Tensor:
    for weight, along_y, along_x in passes:
        stride, padding = _strides(along_y, along_x, up), _pass_crop(crop, along_y, along_x)
        x = F.conv_transpose2d(x, weight, stride=stride, padding=padding, groups=x.shape[1])
    return x


def _upsample_adjoint(grad: torch.Tensor, passes: list[Pass], up: int, crop: tuple[int, int] | None):
    for weight, along_y, along_x in reversed(passes):
        stride, padding = _strides(along_y, along_x, up), _pass_crop(crop, along_y, along_x)
        grad = F.conv2d(grad, weight, stride=stride, padding=padding, groups=grad.shape[1])
    return grad


def _downsample(y: torch.Tensor, passes: list[Pass], down: int) -> torch.Tensor:
    if not passes:
        return y[:, :, ::down, ::down] if down > 1 else y
    for weight, along_y, along_x in passes:
        y = F.conv2d(y, weight, stride=_strides(along_y, along_x, down), groups=y.shape[1])
    return y


def _downsample_adjoint(grad: torch.Tensor, passes: list[Pass], down: int, height: int, width: int):
    """Gradient of _downsample with respect to its [N, C, height, width] input."""
    if not passes:
        if down == 1:
            return grad
        full = grad.new_zeros([*grad.shape[:2], height, width])
        full[:, :, ::down, ::down] = grad
        return full
    sizes = [(height, width)]  # the input size of each pass
    for weight, along_y, along_x in passes[:-1]:
        sh, sw = _strides(along_y, along_x, down)
        h, w = sizes[-1]
        sizes.append(((h - weight.shape[2]) // sh + 1, (w - weight.shape[3]) // sw + 1))
    for (weight, along_y, along_x), (h, w) in zip(reversed(passes), reversed(sizes), strict=True):
        sh, sw = _strides(along_y, along_x, down)
        # The trailing input samples that no output read (fewer than the stride) get zero gradient.
        unread = (
            h - (grad.shape[2] - 1) * sh - weight.shape[2],
            w - (grad.shape[3] - 1) * sw - weight.shape[3],
        )
        grad = F.conv_transpose2d(grad, weight, stride=(sh, sw), output_padding=unread, groups=grad.shape[1])
    return grad
