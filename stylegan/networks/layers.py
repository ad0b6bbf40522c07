"""Small building blocks shared by every generator family."""

from __future__ import annotations

import math

import torch

from stylegan.ops.bias_act import bias_act

# How the per-pixel noise inputs are filled (only StyleGAN2 has them).
NOISE_MODES = ("random", "const", "none")


class FullyConnectedLayer(torch.nn.Module):
    """Linear layer with the equalized learning rate of StyleGAN.

    Weights are stored divided by ``lr_multiplier`` and scaled back at run time, so the optimiser's
    effective step on this layer is ``lr * lr_multiplier`` and the stored values match official checkpoints.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        activation: str = "linear",  # 'linear', 'lrelu', ... (see stylegan.ops.bias_act)
        bias: bool = True,  # add a bias before the activation
        lr_multiplier: float = 1.0,  # learning-rate multiplier for this layer
        weight_init: float = 1.0,  # initial standard deviation of the weights
        bias_init: float | list[float] = 0.0,  # initial bias: scalar or one value per output
    ):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = torch.nn.Parameter(
            torch.randn([out_features, in_features]) * (weight_init / lr_multiplier)
        )
        if bias:
            init = torch.as_tensor(bias_init, dtype=torch.float32).broadcast_to([out_features])
            self.bias = torch.nn.Parameter(init / lr_multiplier)
        else:
            self.bias = None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"
        )


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale each vector to unit root-mean-square (the 'pixel norm' of StyleGAN's mapping input)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()
