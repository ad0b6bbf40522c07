"""`conv2d` whose gradients of every order are first-order convolutions, and `no_weight_gradients()`.

On the fast path (STYLEGAN_OPS, see stylegan.ops._dispatch) a float32 3x3 convolution on the CPU at stride 1,
its input's gradient and its weight's gradient run through the compiled Winograd kernel
(stylegan.ops.native.winograd) where they are large enough to gain.

The backward of the convolution is written as two ops, one for the input's gradient and one for the weight's,
and each of their backwards is again one of the three ops. Higher-order gradients (the path-length
regulariser's double backward) therefore never reach PyTorch's convolution double backward, which splits a
grouped convolution into one small convolution per group for the weight term; with StyleGAN's modulated
convolution, a group per sample.

Inside `no_weight_gradients()` the backward returns no gradient for the weight. That is exact only where
the gradients asked for do not depend on the weight's: the path-length pass asks for d/dws, so it may skip the
gradient of a weight that does not come from ws (the shared weight of a non-fused modulated convolution),
never that of a fused one, whose per-sample weights carry the styles. The flag is a module global, not
thread-local, because CUDA runs backward passes on the autograd engine's own threads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.nn.modules.utils import _pair

from stylegan.ops._dispatch import resolve_impl
from stylegan.ops.native import winograd

_weight_gradients_disabled = False


@contextlib.contextmanager
def no_weight_gradients(disable: bool = True) -> Iterator[None]:
    """Backward passes run inside skip the weight gradient of `conv2d` (the input's stays exact)."""
    global _weight_gradients_disabled
    previous = _weight_gradients_disabled
    _weight_gradients_disabled = previous or disable
    try:
        yield
    finally:
        _weight_gradients_disabled = previous


def conv2d(
    input: torch.Tensor,  # [N, I, H, W]
    weight: torch.Tensor,  # [O, I // groups, kh, kw]
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    groups: int = 1,
) -> torch.Tensor:
    """torch.nn.functional.conv2d (no bias, no dilation), differentiable to any order by first-order ops."""
    return _Conv2d.apply(input, weight, _Geometry(_pair(stride), _pair(padding), groups))


@dataclass(frozen=True)
class _Geometry:
    stride: tuple[int, int]
    padding: tuple[int, int]
    groups: int

    def conv(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        if resolve_impl("auto") == "fast" and winograd.supports(
            x, weight, self.stride, self.padding, self.groups
        ):
            return winograd.conv3x3(x, weight, self.padding, self.groups)
        return F.conv2d(x, weight, stride=self.stride, padding=self.padding, groups=self.groups)

    def grad_input(self, grad: torch.Tensor, weight: torch.Tensor, input_shape: torch.Size) -> torch.Tensor:
        if resolve_impl("auto") == "fast" and winograd.supports_input_gradient(
            grad, weight, self.stride, self.padding, self.groups
        ):
            return winograd.input_gradient(grad, weight, self.padding, self.groups)
        return torch.nn.grad.conv2d_input(
            input_shape, weight, grad, self.stride, self.padding, 1, self.groups
        )

    def grad_weight(self, grad: torch.Tensor, x: torch.Tensor, weight_shape: torch.Size) -> torch.Tensor:
        if resolve_impl("auto") == "fast" and winograd.supports_weight_gradient(
            x, grad, weight_shape, self.stride, self.padding, self.groups
        ):
            return winograd.weight_gradient(x, grad, weight_shape, self.padding, self.groups)
        return torch.nn.grad.conv2d_weight(x, weight_shape, grad, self.stride, self.padding, 1, self.groups)


def _weight_gradient_wanted(ctx, index: int) -> bool:
    return ctx.needs_input_grad[index] and not _weight_gradients_disabled


class _Conv2d(torch.autograd.Function):
    """y = conv(x, weight)."""

    @staticmethod
    def forward(ctx, x, weight, geometry):
        ctx.save_for_backward(x, weight)
        ctx.geometry = geometry
        return geometry.conv(x, weight)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_x = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_x = _Conv2dGradInput.apply(grad, weight, x.shape, ctx.geometry)
        if _weight_gradient_wanted(ctx, 1):
            grad_weight = _Conv2dGradWeight.apply(grad, x, weight.shape, ctx.geometry)
        return grad_x, grad_weight, None


class _Conv2dGradInput(torch.autograd.Function):
    """The input's gradient of conv(x, weight) for the output's gradient `grad`: linear in grad and weight."""

    @staticmethod
    def forward(ctx, grad, weight, input_shape, geometry):
        ctx.save_for_backward(grad, weight)
        ctx.geometry = geometry
        return geometry.grad_input(grad, weight, input_shape)

    @staticmethod
    def backward(ctx, grad_grad_x):
        grad, weight = ctx.saved_tensors
        grad_grad = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_grad = _Conv2d.apply(grad_grad_x, weight, ctx.geometry)
        if _weight_gradient_wanted(ctx, 1):
            grad_weight = _Conv2dGradWeight.apply(grad, grad_grad_x, weight.shape, ctx.geometry)
        return grad_grad, grad_weight, None, None


class _Conv2dGradWeight(torch.autograd.Function):
    """The weight's gradient of conv(x, weight) for the output's gradient `grad`: linear in grad and x."""

    @staticmethod
    def forward(ctx, grad, x, weight_shape, geometry):
        ctx.save_for_backward(grad, x)
        ctx.geometry = geometry
        return geometry.grad_weight(grad, x, weight_shape)

    @staticmethod
    def backward(ctx, grad_grad_weight):
        grad, x = ctx.saved_tensors
        grad_grad = grad_x = None
        if ctx.needs_input_grad[0]:
            grad_grad = _Conv2d.apply(x, grad_grad_weight, ctx.geometry)
        if ctx.needs_input_grad[1]:
            grad_x = _Conv2dGradInput.apply(grad, grad_grad_weight, x.shape, ctx.geometry)
        return grad_grad, grad_x, None, None
