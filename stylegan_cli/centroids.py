"""`stylegan centroids`: W centroids for multimodal truncation."""

from __future__ import annotations

from pathlib import Path

import click

from stylegan.errors import StyleGANError
from stylegan_cli.options import ProgressBar, device_option, load_for_rendering, network_option


@click.command()
@network_option
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The centroids, a .npy file.")
@click.option(
    "--samples", type=click.IntRange(min=1), default=100_000, show_default=True, help="ws to sample."
)
@click.option("--centroids", "num_centroids", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--class", "class_spec", help="Sample only this class (default: classes drawn uniformly).")
@click.option(
    "--iterations", type=click.IntRange(min=1), default=30, show_default=True, help="k-means rounds."
)
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@device_option
def centroids(network, out, samples, num_centroids, class_spec, iterations, seed, device):
    """Compute W centroids for multimodal truncation (k-means on sampled ws; the official ImageNet file used
    600k samples and 10k centroids)."""
    import numpy as np

    from stylegan.io.atomic import atomic_path
    from stylegan.latent import compute_centroids, resolve_class

    if out.suffix != ".npy":
        raise StyleGANError(f"{out}: centroids are written as .npy; use that suffix")
    G, _, _ = load_for_rendering(network, device, 1.0, None, None)
    class_index = None if class_spec is None else resolve_class(G, class_spec)
    with ProgressBar("sampling, k-means", 1) as bar:
        result = compute_centroids(
            G, samples, num_centroids, seed, class_index, iterations, progress=bar.report
        )
    with atomic_path(out) as tmp_path, tmp_path.open("wb") as f:
        np.save(f, result)
    click.echo(f"wrote {out} ({result.shape[0]} centroids of {result.shape[1]} dimensions)")
