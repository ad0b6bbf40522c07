"""Bias, activation, gain and clamp in one call."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from stylegan.ops._dispatch import check_impl


@dataclass(frozen=True)
class Activation:
    func: Callable[[torch.Tensor, float], torch.Tensor]
    default_alpha: float  # slope or scale parameter, where the activation has one
    default_gain: float  # output scale that keeps the signal's magnitude about constant


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation(lambda x, alpha: x, 0.0, 1.0),
    "relu": Activation(lambda x, alpha: torch.nn.functional.relu(x), 0.0, math.sqrt(2)),
    "lrelu": Activation(lambda x, alpha: torch.nn.functional.leaky_relu(x, alpha), 0.2, math.sqrt(2)),
    "tanh": Activation(lambda x, alpha: torch.tanh(x), 0.0, 1.0),
    "sigmoid": Activation(lambda x, alpha: torch.sigmoid(x), 0.0, 1.0),
    "elu": Activation(lambda x, alpha: torch.nn.functional.elu(x), 0.0, 1.0),
    "selu": Activation(lambda x, alpha: torch.nn.functional.selu(x), 0.0, 1.0),
    "softplus": Activation(lambda x, alpha: torch.nn.functional.softplus(x), 0.0, 1.0),
    "swish": Activation(lambda x, alpha: torch.sigmoid(x) * x, 0.0, math.sqrt(2)),
}


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,  # bias [x.shape[dim]], added before the activation
    dim: int = 1,  # the dimension of x the bias runs along
    act: str = "linear",  # a name from ACTIVATIONS
    alpha: float | None = None,  # activation parameter (lrelu slope); None = its default
    gain: float | None = None,  # output scale; None = the activation's default gain
    clamp: float | None = None,  # clamp the result to [-clamp, clamp]; None = no clamping
    impl: str = "auto",
) -> torch.Tensor:
    """act(x + b) * gain, clamped."""
    check_impl(impl)
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}; known: {', '.join(ACTIVATIONS)}")
    spec = ACTIVATIONS[act]
    alpha = spec.default_alpha if alpha is None else float(alpha)
    gain = spec.default_gain if gain is None else float(gain)
    if clamp is not None and clamp < 0:
        raise ValueError(f"clamp must be non-negative, not {clamp}")

    if b is not None:
        if b.ndim != 1 or b.shape[0] != x.shape[dim]:
            raise ValueError(f"bias of shape {list(b.shape)} does not fit dimension {dim} of {list(x.shape)}")
        x = x + b.reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    x = spec.func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x
