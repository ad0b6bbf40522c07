"""Bias, activation, gain and clamp in one call."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from stylegan.ops._dispatch import check_impl


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
    impl: str = "auto",  # 'auto', 'ref' or 'fast'; all three are the reference today
) -> torch.Tensor:
    """clamp(act(x + b, alpha) * gain); the result has the shape and dtype of x."""
    check_impl(impl)  # one chain of elementwise ops; filtered_lrelu fuses it where it matters
    return _bias_act_ref(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)


def _bias_act_ref(
    x: torch.Tensor,
    b: torch.Tensor | None,
    dim: int,
    act: str,
    alpha: float | None,
    gain: float | None,
    clamp: float | None,
) -> torch.Tensor:
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
        # A float32 bias on a float16 x would otherwise promote the result to float32.
        x = x + b.to(x.dtype).reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    x = spec.func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x
