"""Mapping network: z (and a class) -> w, broadcast to every synthesis layer, with truncation."""

from __future__ import annotations

import torch

from stylegan.networks.layers import FullyConnectedLayer, normalize_2nd_moment


class MappingNetwork(torch.nn.Module):
    """z and an optional class label to `num_ws` copies of w.

    Two kinds of class conditioning:
    - 'table' (StyleGAN-XL): a class-embedding table (`embed`, initialised from a pretrained classifier's
      features) projected to z_dim by `embed_proj`; `w_avg` holds one centre per class, and truncation pulls
      each sample towards the centre of its own class.
    - 'linear' (StyleGAN2 / StyleGAN3): a linear layer `embed` from the one-hot label; one global `w_avg`.
    Both normalise z and the embedding to unit second moment and concatenate them.
    """

    def __init__(
        self,
        z_dim: int,  # dimensionality of z (StyleGAN-XL: 64, StyleGAN2/3: 512)
        c_dim: int,  # number of classes, 0 = unconditional
        w_dim: int,  # dimensionality of w
        num_ws: int,  # copies of w to output, one per synthesis input
        num_layers: int = 2,  # fully connected layers
        lr_multiplier: float = 0.01,  # learning-rate multiplier of the fully connected layers
        w_avg_beta: float = 0.998,  # decay of the running average of w during training
        class_embedding: str = "table",  # 'table' (StyleGAN-XL) or 'linear' (StyleGAN2/3)
        embed_classes: int
        | None = None,  # rows of the 'table' embedding (default c_dim; official files: 1000)
        embed_dim: int = 320,  # width of the 'table' embedding (EfficientNet-lite0 features)
        embed_features: int | None = None,  # output width of the 'linear' embedding (default w_dim)
        layer_features: int | None = None,  # width of hidden layers (default w_dim)
    ):
        super().__init__()
        if class_embedding not in ("table", "linear"):
            raise ValueError(f"class_embedding must be 'table' or 'linear', not {class_embedding!r}")
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        self.class_embedding = class_embedding
        self.per_class_center = class_embedding == "table" and c_dim > 0

        if class_embedding == "table":
            rows = c_dim if embed_classes is None else embed_classes
            # Unconditional StyleGAN-XL files still carry the table; keep it so their state dicts load as is.
            self.embed = torch.nn.Embedding(rows, embed_dim) if rows > 0 else None
            self.embed_proj = FullyConnectedLayer(embed_dim, z_dim, activation="lrelu") if c_dim > 0 else None
            cond_features = z_dim if c_dim > 0 else 0
        else:
            cond_features = (w_dim if embed_features is None else embed_features) if c_dim > 0 else 0
            self.embed = FullyConnectedLayer(c_dim, cond_features) if c_dim > 0 else None
        hidden = w_dim if layer_features is None else layer_features
        features = [z_dim + cond_features] + [hidden] * (num_layers - 1) + [w_dim]
        for idx in range(num_layers):
            layer = FullyConnectedLayer(
                features[idx], features[idx + 1], activation="lrelu", lr_multiplier=lr_multiplier
            )
            setattr(self, f"fc{idx}", layer)
        self.register_buffer("w_avg", torch.zeros([c_dim, w_dim] if self.per_class_center else [w_dim]))

    def embed_class(self, c: torch.Tensor) -> torch.Tensor:
        """Normalised class embedding of labels c [N, c_dim] (see `class_rows` for class weights)."""
        if self.class_embedding == "table":
            y = self.embed_proj(class_rows(self.embed.weight[: self.c_dim], c))
        else:
            y = self.embed(c.to(torch.float32))
        return normalize_2nd_moment(y)

    def class_centers(self, c: torch.Tensor) -> torch.Tensor:
        """The truncation centre of each sample: its class's w_avg, or the global one. [N, w_dim]"""
        if self.per_class_center:
            return class_rows(self.w_avg, c)
        return self.w_avg.unsqueeze(0).expand(c.shape[0], -1)

    def forward(
        self,
        z: torch.Tensor,  # [N, z_dim]
        c: torch.Tensor | None,  # [N, c_dim] one-hot or class weights; None or [N, 0] when unconditional
        truncation_psi: float = 1.0,  # 1 = no truncation, 0 = the centre
        truncation_cutoff: int | None = None,  # truncate only the first this many ws (None: all)
        update_emas: bool = False,  # track w_avg (training)
    ) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape [N, {self.z_dim}], got {list(z.shape)}")
        if c is None:
            if self.c_dim > 0:
                raise ValueError(f"this mapping is class-conditional: pass c of shape [N, {self.c_dim}]")
            c = torch.zeros([z.shape[0], 0], device=z.device)
        if self.c_dim > 0 and (c.ndim != 2 or c.shape != (z.shape[0], self.c_dim)):
            raise ValueError(f"c must have shape [{z.shape[0]}, {self.c_dim}], got {list(c.shape)}")

        x = normalize_2nd_moment(z.to(torch.float32)) if self.z_dim > 0 else None
        if self.c_dim > 0:
            y = self.embed_class(c)
            x = y if x is None else torch.cat([x, y], dim=1)
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)

        if update_emas:
            self._update_w_avg(x.detach(), c)

        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            centers = self.class_centers(c).unsqueeze(1)
            x[:, :cutoff] = centers.lerp(x[:, :cutoff], truncation_psi)
        return x

    def _update_w_avg(self, w: torch.Tensor, c: torch.Tensor) -> None:
        if self.per_class_center:
            # Sequential per sample, so a class seen twice in a batch moves twice, as in the official trainer.
            for sample, label in zip(w, c.argmax(1), strict=True):
                self.w_avg[label].copy_(sample.lerp(self.w_avg[label], self.w_avg_beta))
        else:
            self.w_avg.copy_(w.mean(dim=0).lerp(self.w_avg, self.w_avg_beta))

    def extra_repr(self) -> str:
        return (
            f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}, "
            f"class_embedding={self.class_embedding}"
        )


def class_rows(table: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Rows of a per-class table [c_dim, F] for labels c [N, c_dim].

    One-hot labels look their row up, as the official code does. Any other rows of c are class weights
    (summing to 1, e.g. (1 - t) * one_hot(a) + t * one_hot(b)) and give the weighted sum of rows: a point
    between classes, which is how class interpolation moves continuously from one class to another.
    """
    if bool((((c == 0) | (c == 1)).all(dim=1) & (c.sum(dim=1) == 1)).all()):
        return table[c.argmax(dim=1)]
    return c.to(table.dtype) @ table
