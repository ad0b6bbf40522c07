"""Bias, activation, gain and clamp in one call."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F

from stylegan.ops import _dispatch
from stylegan.ops._dispatch import resolve_impl


@dataclass(frozen=True)
class Activation:
    func: Callable[[torch.Tensor, float], torch.Tensor]  # (x, alpha) -> activation; alpha unused by most
    default_alpha: float  # the shape parameter when none is given (the slope of lrelu)
    default_gain: float  # the output scale when none is given; keeps unit-variance inputs near unit variance


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation(lambda x, alpha: x, 0.0, 1.0),
    "relu": Activation(lambda x, alpha: F.relu(x), 0.0, math.sqrt(2)),
    "lrelu": Activation(lambda x, alpha: F.leaky_relu(x, alpha), 0.2, math.sqrt(2)),
    "tanh": Activation(lambda x, alpha: torch.tanh(x), 0.0, 1.0),
    "sigmoid": Activation(lambda x, alpha: torch.sigmoid(x), 0.0, 1.0),
    "elu": Activation(lambda x, alpha: F.elu(x), 0.0, 1.0),
    "selu": Activation(lambda x, alpha: F.selu(x), 0.0, 1.0),
    "softplus": Activation(lambda x, alpha: F.softplus(x), 0.0, 1.0),
    "swish": Activation(lambda x, alpha: torch.sigmoid(x) * x, 0.0, math.sqrt(2)),
}


def bias_act(
    x: torch.Tensor,  # any shape
    b: torch.Tensor | None = None,  # 1-D bias as long as x.shape[dim], added before the activation
    dim: int = 1,  # the axis of x that b runs along; ignored without b
    act: str = "linear",  # a name from ACTIVATIONS
    alpha: float | None = None,  # activation shape parameter; None = the activation's default
    gain: float | None = None,  # output scale; None = the activation's default gain
    clamp: float | None = None,  # clamp the scaled output to [-clamp, clamp]; None = no clamping
    impl: str = "auto",  # 'auto', 'ref' or 'fast': on CUDA the Triton kernel, elsewhere the reference
) -> torch.Tensor:
    """clamp(act(x + b, alpha) * gain); the result has the shape and dtype of x."""
    args = (x, b, dim, act, alpha, gain, clamp)
    if resolve_impl(impl) == "fast" and _dispatch.wants_triton("bias_act", x):
        parse_arguments(*args)  # the caller's errors come before any kernel
        return _dispatch.run_triton(
            "bias_act", partial(_triton_bias_act, *args), partial(_bias_act_ref, *args)
        )
    # On the CPU this is one chain of elementwise ops; filtered_lrelu fuses it where it matters.
    return _bias_act_ref(*args)


def _triton_bias_act(*args) -> torch.Tensor:
    from stylegan.ops.triton.bias_act import bias_act as kernel  # imports triton, hence only here

    return kernel(*args)


def parse_arguments(
    x: torch.Tensor,
    b: torch.Tensor | None,
    dim: int,
    act: str,
    alpha: float | None,
    gain: float | None,
    clamp: float | None,
) -> tuple[Activation, float, float, int]:
    """(activation, alpha, gain, dim in 0..ndim-1) with the defaults filled in; ValueError for bad arguments."""
    spec = ACTIVATIONS.get(act)
    if spec is None:
        raise ValueError(f"unknown activation {act!r}; known: {', '.join(ACTIVATIONS)}")
    alpha = spec.default_alpha if alpha is None else float(alpha)
    gain = spec.default_gain if gain is None else float(gain)
    if clamp is not None and clamp < 0:
        raise ValueError(f"clamp must be None or non-negative, not {clamp}")
    if b is not None:
        if not -x.ndim <= dim < x.ndim:
            raise ValueError(f"dim {dim} is out of range for x of shape {list(x.shape)}")
        dim %= x.ndim
        if b.ndim != 1 or b.shape[0] != x.shape[dim]:
            raise ValueError(
                f"bias of shape {list(b.shape)} does not match dimension {dim} of {list(x.shape)}"
            )
    return spec, alpha, gain, dim


def _bias_act_ref(
    x: torch.Tensor,
    b: torch.Tensor | None,
    dim: int,
    act: str,
    alpha: float | None,
    gain: float | None,
    clamp: float | None,
) -> torch.Tensor:
    spec, alpha, gain, dim = parse_arguments(x, b, dim, act, alpha, gain, clamp)
    if b is not None:
        # A float32 bias on a float16 x would otherwise promote the result to float32.
        x = x + b.to(x.dtype).reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    x = spec.func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x
