"""StyleGAN-XL's class-embedding initialisation, computed over the training set itself.

Each class starts at the mean of EfficientNet-lite0's spatially pooled coarsest features over its images, so a
custom dataset gets embeddings of its own classes (the official files ship ImageNet's 1000 rows).

The official rows, 1000 very different classes, are almost orthogonal (mean cosine 0.08) with elements of
about unit spread. A custom set's few classes share most of their features (cosine 0.6 to 0.96 on three
colours): the rows would differ too little for the generator to tell its classes apart. `standardize` takes
the part the classes share out and brings the elements to unit spread, as the official table has them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from stylegan.images import from_uint8
from training.dataset import ImageDataset
from training.feature_networks import ProjectedFeatures

EMBEDDING_NETWORK = "tf_efficientnet_lite0"


def class_embeddings(
    dataset: ImageDataset,
    features: ProjectedFeatures,
    device: torch.device,
    batch_size: int = 64,
    workers: int = 0,
    progress: Callable[[int, int], None] | None = None,  # (images done, total)
) -> torch.Tensor:
    """[c_dim, feature width]: the per-class mean pooled feature. A class without images gets the mean of all."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    sums, counts = None, torch.zeros(dataset.c_dim, dtype=torch.float64)
    done = 0
    with torch.no_grad():
        for images, labels in loader:
            pooled = features.pooled_features(from_uint8(images.to(device))).double().cpu()
            if sums is None:
                sums = torch.zeros(dataset.c_dim, pooled.shape[1], dtype=torch.float64)
            sums += labels.double().t() @ pooled
            counts += labels.double().sum(0)
            done += images.shape[0]
            if progress is not None:
                progress(done, len(dataset))
    means = sums / counts.clamp(min=1)[:, None]
    empty = counts == 0
    means[empty] = (sums.sum(0) / counts.sum())[None]
    return means.float()


def standardize(embeddings: torch.Tensor) -> torch.Tensor:
    """Class embeddings [c_dim, F] less their mean over the classes (with more than one), at unit RMS."""
    if embeddings.shape[0] > 1:
        embeddings = embeddings - embeddings.mean(dim=0, keepdim=True)
    return embeddings / embeddings.square().mean().sqrt().clamp(min=1e-8)
