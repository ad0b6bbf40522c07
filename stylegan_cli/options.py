"""Options and helpers the rendering commands share: the network, device, truncation and noise options, loading a
generator for rendering, and a progress bar."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from stylegan.errors import StyleGANError
from stylegan.networks.layers import NOISE_MODES


def network_option(function):
    return click.option(
        "--network",
        "-n",
        "network",
        required=True,
        help="A .safetensors file, an official .pkl, or a bundled model name (see `stylegan info`).",
    )(function)


def device_option(function):
    return click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")(function)


def truncation_options(function):
    function = click.option(
        "--centroids",
        type=click.Path(path_type=Path),
        help="A .npy of W centroids [K, w_dim]: truncate towards the nearest one (multimodal truncation).",
    )(function)
    function = click.option("--cutoff", type=int, help="Truncate only the first N ws (default: all).")(
        function
    )
    return click.option(
        "--trunc",
        "psi",
        type=float,
        default=1.0,
        show_default=True,
        help="Truncation psi: 1 none, 0 the centre.",
    )(function)


def noise_options(function):
    function = click.option(
        "--noise-seed",
        type=int,
        default=0,
        show_default=True,
        help="Seed of the noise for --noise-mode random.",
    )(function)
    return click.option(
        "--noise-mode",
        type=click.Choice(NOISE_MODES),
        default="const",
        show_default=True,
        help="StyleGAN2 per-pixel noise (other models have none).",
    )(function)


def load_for_rendering(network: str, device: str, psi: float, cutoff: int | None, centroids: Path | None):
    """The generator on its device, the checked truncation cutoff, and the centroids tensor (or None)."""

    import stylegan
    from stylegan.devices import checked_device
    from stylegan.latent import load_centroids

    G = stylegan.load(network, device=checked_device(device, "--device")).eval()
    if cutoff is not None and not 0 <= cutoff <= G.num_ws:
        raise StyleGANError(
            f"cutoff {cutoff} is out of range: this model has {G.num_ws} ws (0 to {G.num_ws})"
        )
    centroid_tensor = None if centroids is None else load_centroids(centroids, G.w_dim, device)
    return G, cutoff, centroid_tensor


class ProgressBar:
    """A rich progress bar on stderr with the two ways the library reports progress."""

    def __init__(self, description: str, total: int):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), "eta")
        self._progress = Progress(*columns, TimeRemainingColumn(), console=Console(stderr=True))
        self._task = self._progress.add_task(description, total=total)

    def __enter__(self) -> ProgressBar:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self._progress.__exit__(*exc_info)

    def advance(self, steps: int = 1) -> None:
        self._progress.advance(self._task, steps)

    def describe(self, description: str) -> None:
        self._progress.update(self._task, description=description)

    def report(self, done: int, total: int) -> None:
        """A `progress(done, total)` callback."""
        self._progress.update(self._task, completed=done, total=total)
