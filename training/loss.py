"""StyleGAN-XL's training objective: hinge loss on the projected discriminator's logits, a blur of the
discriminator's inputs that fades out, classifier guidance, and path-length regularisation of the stem.

The hinge sums over images and averages over each image's logits, as the official trainer does (its
discriminator returns a list of per-image rows), so the loss scales with the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from stylegan.networks.generator import Generator
from stylegan.ops import conv2d_gradfix
from stylegan.ops.upfirdn2d import filter2d
from training.discriminator import ProjectedDiscriminator
from training.feature_networks import IMAGENET_STATS, INPUT_SIZE, network_input


@dataclass
class LossOptions:
    blur_sigma: float = 2.0  # initial blur of the discriminator's inputs, in pixels
    blur_fade_kimg: float = 200.0  # the blur fades linearly to 0 over this many thousand images
    cls_weight: float = 0.0  # classifier guidance weight (the paper: 8, from 32x32 on)
    pl_weight: float = 0.0  # path-length regularisation weight (the official stem: 2)
    pl_start_kimg: float = 200.0  # path-length regularisation starts after this many thousand images
    pl_interval: int = 1  # it runs every this many steps, so its loss is scaled by it (StyleGAN2's gain)
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    pl_no_weight_grad: bool = True  # the path-length pass skips weight gradients (see below)


def blur_sigma(options: LossOptions, cur_nimg: int) -> float:
    if options.blur_fade_kimg <= 0:
        return 0.0
    return max(1 - cur_nimg / (options.blur_fade_kimg * 1e3), 0.0) * options.blur_sigma


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian-like blur with weights 2^-(x/sigma)^2 over |x| <= 3 sigma (the official filter)."""
    radius = math.floor(sigma * 3)
    if radius <= 0:
        return images
    taps = torch.arange(-radius, radius + 1, device=images.device, dtype=torch.float32)
    f = taps.div(sigma).square().neg().exp2()
    return filter2d(images, f / f.sum())


def hinge_real(logits: list[torch.Tensor]) -> torch.Tensor:
    return sum(F.relu(1 - x).mean(dim=1).sum() for x in logits)


def hinge_fake(logits: list[torch.Tensor]) -> torch.Tensor:
    return sum(F.relu(1 + x).mean(dim=1).sum() for x in logits)


def generator_adversarial(logits: list[torch.Tensor]) -> torch.Tensor:
    return sum((-x).mean(dim=1).sum() for x in logits)


class ClassifierGuidance(torch.nn.Module):
    """Cross-entropy of a frozen classifier on generated images against their class (one class per output)."""

    def __init__(self, classifier: torch.nn.Module, stats: tuple = IMAGENET_STATS):
        super().__init__()
        self.classifier = classifier.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(stats[0]).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(stats[1]).view(1, -1, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> ClassifierGuidance:
        return super().train(False)

    def forward(self, images: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        x = network_input(images, self.mean, self.std, INPUT_SIZE)
        return F.cross_entropy(self.classifier(x), c.argmax(dim=1))


class StyleGANXLLoss:
    """The terms of each training phase; the loop calls backward on what they return."""

    def __init__(
        self,
        G: Generator,
        D: ProjectedDiscriminator,
        options: LossOptions,
        guidance: ClassifierGuidance | None = None,
        amp: bool = False,  # run the discriminator in bfloat16 autocast (on the device of G's weights)
    ):
        self.G = G
        self.D = D
        self.options = options
        self.guidance = guidance if options.cls_weight else None
        self.amp = amp
        self.pl_mean = torch.zeros([], device=G.mapping.fc0.weight.device)

    def discriminate(
        self, images: torch.Tensor, c: torch.Tensor, cur_nimg: int, generator
    ) -> list[torch.Tensor]:
        images = blur(images, blur_sigma(self.options, cur_nimg))
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=self.amp):
            logits = self.D(images, c, generator)
        return [x.float() for x in logits]

    def generator_main(self, z, c, cur_nimg: int, generator=None) -> tuple[torch.Tensor, dict]:
        images = self.G.synthesis(self.G.mapping(z, c))
        logits = self.discriminate(images, c, cur_nimg, generator)
        loss = generator_adversarial(logits)
        stats = {"Loss/G/adversarial": loss.item(), "Loss/scores/fake": _mean_logit(logits)}
        if self.guidance is not None:
            guidance = self.guidance(images, c)
            loss = loss + self.options.cls_weight * guidance
            stats["Loss/G/guidance"] = guidance.item()
        stats["Loss/G/loss"] = loss.item()
        return loss, stats

    def path_length_active(self, cur_nimg: int) -> bool:
        return self.options.pl_weight > 0 and cur_nimg >= self.options.pl_start_kimg * 1e3

    def generator_path_length(self, z, c, generator=None) -> tuple[torch.Tensor, dict]:
        """StyleGAN2's path-length penalty: |J^T y| for random image-space y should stay near its running mean.

        J^T y needs no gradient of a convolution weight, so with `pl_no_weight_grad` none is computed. The
        modulated convolutions then run non-fused: fused, their per-sample weights carry the styles, and skipping
        their gradient (as the official StyleGAN-XL does) leaves only the Fourier input's part of d/dws.
        """
        skip_weights = self.options.pl_no_weight_grad
        batch = max(z.shape[0] // self.options.pl_batch_shrink, 1)
        ws = self.G.mapping(z[:batch], c[:batch])
        images = self.G.synthesis(ws, fused_modconv=not skip_weights)
        draw_device = generator.device if generator is not None else images.device
        noise = torch.randn(images.shape, generator=generator, device=draw_device).to(images.device)
        noise = noise / math.sqrt(images.shape[2] * images.shape[3])
        with conv2d_gradfix.no_weight_gradients(skip_weights):
            (grads,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
        lengths = grads.square().sum(2).mean(1).sqrt()
        mean = self.pl_mean.lerp(lengths.mean(), self.options.pl_decay)
        self.pl_mean.copy_(mean.detach())
        penalty = (lengths - mean).square()
        loss = (penalty * self.options.pl_weight).mean() * self.options.pl_interval
        return loss, {"Loss/G/path_length": penalty.mean().item()}

    def discriminator_main(
        self, real, real_c, z, c, cur_nimg: int, generator=None
    ) -> tuple[torch.Tensor, dict]:
        with torch.no_grad():
            fake = self.G.synthesis(self.G.mapping(z, c, update_emas=True))
        fake_logits = self.discriminate(fake, c, cur_nimg, generator)
        real_logits = self.discriminate(real, real_c, cur_nimg, generator)
        loss = hinge_fake(fake_logits) + hinge_real(real_logits)
        return loss, {
            "Loss/D/loss": loss.item(),
            "Loss/scores/fake": _mean_logit(fake_logits),
            "Loss/scores/real": _mean_logit(real_logits),
        }


def _mean_logit(logits: list[torch.Tensor]) -> float:
    return torch.cat([x.detach().flatten() for x in logits]).mean().item()
