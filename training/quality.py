"""How good a class-conditional generator is on its dataset, in ImageNet-pretrained EfficientNet-lite0 features.

Three measures, each next to a reference measured the same way:
- class accuracy: a linear classifier (multinomial logistic regression) fitted on the features of half of
  the real images names the conditioned class of generated samples; its accuracy on the other, held-out half of
  the real images says how well the classifier itself can tell the classes apart;
- diversity: within each class, the mean pairwise feature distance of generated samples over that of the real
  images of the class (1 = as varied as the data, near 0 = one image per class);
- Fréchet distance between generated and real features (lower is better), beside the distance between the two
  halves of the real data (the floor for this sample size) and that of a randomly initialised generator.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from stylegan.images import from_uint8
from stylegan.networks.generator import Generator
from training.dataset import ImageDataset
from training.fid import LITE0, PooledFeatures, frechet_distance

QUALITY_INPUT_SIZE = 128


@dataclass
class QualityReport:
    classifier_real_accuracy: float  # the classifier on held-out real images
    class_accuracy: float  # the classifier on generated images: is the conditioned class recognised?
    diversity: float  # mean over classes of (generated / real mean pairwise distance)
    min_class_diversity: float
    frechet_distance: float  # generated vs all real images
    frechet_distance_real_halves: float  # one half of the real images vs the other
    samples_per_class: int

    def to_dict(self) -> dict:
        return {
            key: round(value, 4) if isinstance(value, float) else value for key, value in asdict(self).items()
        }


def real_features(features: PooledFeatures, dataset: ImageDataset) -> tuple[torch.Tensor, torch.Tensor]:
    """(pooled features, class indices) of every real image: what evaluate_quality measures against, worth
    computing once when several generators are measured on the same data."""
    images, labels = real_images(dataset)
    return embed(features, images), labels


def real_images(dataset: ImageDataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of the dataset (mirrored copies left out) in [-1, 1], with its class index."""
    count = len(dataset.image_names)
    images = from_uint8(torch.stack([dataset[i][0] for i in range(count)]))
    return images, torch.from_numpy(dataset.labels[:count]).long()


def halves(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of two halves with the same class mix: every other image of each class."""
    first, second = [], []
    for k in labels.unique().tolist():
        members = (labels == k).nonzero().flatten()
        first.append(members[0::2])
        second.append(members[1::2])
    return torch.cat(first), torch.cat(second)


@torch.no_grad()
def generate(
    G: Generator, labels: torch.Tensor, seed: int = 0, psi: float = 1.0, batch_size: int = 64
) -> torch.Tensor:
    """One image per label, from z drawn with `seed`; [-1, 1] on the CPU."""
    generator = torch.Generator().manual_seed(seed)
    device = G.device
    images = []
    for start in range(0, labels.shape[0], batch_size):
        part = labels[start : start + batch_size]
        z = torch.randn([part.shape[0], G.z_dim], generator=generator).to(device)
        c = torch.nn.functional.one_hot(part, G.c_dim).float().to(device)
        images.append(G(z, c, truncation_psi=psi, noise_mode="const").float().cpu())
    return torch.cat(images)


class LinearClassifier:
    """Multinomial logistic regression on standardised features, fitted with L-BFGS (weight decay `l2`)."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, classes: int, l2: float = 1e-3):
        self.mean = features.mean(0)
        self.std = features.std(0) + 1e-6
        x = (features - self.mean) / self.std
        self.linear = torch.nn.Linear(x.shape[1], classes).double()
        optimizer = torch.optim.LBFGS(self.linear.parameters(), max_iter=200, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(self.linear(x), labels)
            loss = loss + l2 * self.linear.weight.square().sum()
            loss.backward()
            return loss

        optimizer.step(closure)

    @torch.no_grad()
    def predict(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear((features - self.mean) / self.std).argmax(1)

    def accuracy(self, features: torch.Tensor, labels: torch.Tensor) -> float:
        return float((self.predict(features) == labels).double().mean())


def mean_pairwise_distance(features: torch.Tensor) -> float:
    count = features.shape[0]
    if count < 2:
        return 0.0
    distances = torch.cdist(features, features)
    return float(distances.sum() / (count * (count - 1)))


def diversity_ratios(
    fake: torch.Tensor, fake_labels: torch.Tensor, real: torch.Tensor, real_labels: torch.Tensor
) -> list[float]:
    """Per class: mean pairwise distance of its generated samples over that of its real images."""
    ratios = []
    for k in real_labels.unique().tolist():
        real_spread = mean_pairwise_distance(real[real_labels == k])
        if real_spread > 0:
            ratios.append(mean_pairwise_distance(fake[fake_labels == k]) / real_spread)
    return ratios


def quality_features(device: torch.device | str = "cpu") -> PooledFeatures:
    """The feature network of these measures: pretrained lite0's pooled pre-logit features of 128-pixel input."""
    return PooledFeatures(LITE0, QUALITY_INPUT_SIZE).to(device)


def embed(features: PooledFeatures, images: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    device = features.mean.device
    return torch.cat(
        [features(images[i : i + batch_size].to(device)).cpu() for i in range(0, images.shape[0], batch_size)]
    )


def evaluate_quality(
    G: Generator,
    dataset: ImageDataset,
    samples_per_class: int = 50,
    seed: int = 0,
    features: PooledFeatures | None = None,  # from quality_features(); made here when not given
    real: tuple[torch.Tensor, torch.Tensor] | None = None,  # real_features(); made here when not given
) -> QualityReport:
    """The three measures of the module docstring for G on `dataset` (conditional, the classes of G)."""
    features = features or quality_features(G.device)
    real, labels = real or real_features(features, dataset)
    train, held_out = halves(labels)
    classifier = LinearClassifier(real[train], labels[train], dataset.c_dim)
    fake_labels = torch.arange(dataset.c_dim).repeat_interleave(samples_per_class)
    fake = embed(features, generate(G, fake_labels, seed))
    ratios = diversity_ratios(fake, fake_labels, real, labels)
    return QualityReport(
        classifier_real_accuracy=classifier.accuracy(real[held_out], labels[held_out]),
        class_accuracy=classifier.accuracy(fake, fake_labels),
        diversity=float(np.mean(ratios)),
        min_class_diversity=float(np.min(ratios)),
        frechet_distance=frechet_distance(real.numpy(), fake.numpy()),
        frechet_distance_real_halves=frechet_distance(real[train].numpy(), real[held_out].numpy()),
        samples_per_class=samples_per_class,
    )
