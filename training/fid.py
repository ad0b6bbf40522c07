"""Fréchet distance between Inception features of real and generated images, for stopping a stage early.

The features are timm's Inception-v3 (torchvision's ImageNet weights), pooled to 2048 values at 299x299. That
is close to, but not the same graph as, the TensorFlow Inception of published FIDs, so these numbers track
progress within a run and are not comparable to papers.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F

from stylegan.networks.generator import Generator
from stylegan.pretrained import create_timm_model
from training.dataset import ImageDataset
from training.feature_networks import IMAGENET_STATS

FID_NETWORK = "inception_v3"
FID_INPUT = 299


class InceptionFeatures(torch.nn.Module):
    def __init__(self, pretrained: bool = True):
        super().__init__()
        self.model = create_timm_model(FID_NETWORK, pretrained).eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_STATS[0]).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STATS[1]).view(1, -1, 1, 1), persistent=False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] -> [N, 2048] pooled features."""
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        x = ((images.clamp(-1, 1) + 1) / 2 - self.mean) / self.std
        x = F.interpolate(x, size=(FID_INPUT, FID_INPUT), mode="bilinear", align_corners=False)
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True).double()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """FID between two feature sets [N, D]."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    sigma_a, sigma_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root, _ = scipy.linalg.sqrtm(sigma_a @ sigma_b, disp=False)
    return float(np.square(mu_a - mu_b).sum() + np.trace(sigma_a + sigma_b - 2 * root.real))


class FIDTracker:
    """FID of G against `num_images` of the dataset (real features computed once), and whether it still improves."""

    def __init__(
        self,
        dataset: ImageDataset,
        device: torch.device,
        num_images: int = 10000,
        patience: int = 3,  # evaluations without a new best before the stage stops
        pretrained: bool = True,
        batch_size: int = 32,
        seed: int = 0,
    ):
        self.network = InceptionFeatures(pretrained).to(device)
        self.device = device
        self.num_images = min(num_images, len(dataset))
        self.patience = patience
        self.batch_size = batch_size
        self.seed = seed
        self.dataset = dataset
        subset = torch.utils.data.Subset(dataset, range(self.num_images))
        real = []
        for images, _ in torch.utils.data.DataLoader(subset, batch_size=batch_size):
            real.append(self.network(images.to(device, torch.float32) / 127.5 - 1).cpu())
        self.real = torch.cat(real).numpy()
        self.history: list[float] = []

    def evaluate(self, G: Generator) -> float:
        generator = torch.Generator().manual_seed(self.seed)
        fake = []
        for start in range(0, self.num_images, self.batch_size):
            count = min(self.batch_size, self.num_images - start)
            z = torch.randn([count, G.z_dim], generator=generator).to(self.device)
            c = self.dataset.random_labels(count, generator).to(self.device)
            with torch.no_grad():
                images = G.synthesis(G.mapping(z, c if G.c_dim else None))
            fake.append(self.network(images).cpu())
        fid = frechet_distance(self.real, torch.cat(fake).numpy())
        self.history.append(fid)
        return fid

    @property
    def stopped_improving(self) -> bool:
        if len(self.history) <= self.patience:
            return False
        best = self.history.index(min(self.history))
        return len(self.history) - 1 - best >= self.patience
