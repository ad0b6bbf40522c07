"""`stylegan mix`: a style-mixing grid."""

from __future__ import annotations

from pathlib import Path

import click

from stylegan.errors import StyleGANError
from stylegan_cli.options import (
    ProgressBar,
    device_option,
    load_for_rendering,
    network_option,
    noise_options,
    truncation_options,
)


@click.command()
@network_option
@click.option(
    "--rows", "row_seeds", required=True, help="Seeds of the rows: they give the ws outside --layers."
)
@click.option(
    "--cols", "col_seeds", required=True, help="Seeds of the columns: they give the ws in --layers."
)
@click.option(
    "--layers", default="coarse", show_default=True, help="coarse, middle, fine, all, or w indices like 0-5."
)
@click.option(
    "--class", "class_spec", help="Class number or (part of a) name; default: each seed's own draw."
)
@truncation_options
@noise_options
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The grid, a .png file.")
@device_option
def mix(
    network,
    row_seeds,
    col_seeds,
    layers,
    class_spec,
    psi,
    cutoff,
    centroids,
    noise_mode,
    noise_seed,
    out,
    device,
):
    """Style-mixing grid: the top row shows the column seeds, the left column the row seeds, and each cell the
    row seed with the chosen layers' ws taken from the column seed."""
    from stylegan.images import mix_grid, save_image
    from stylegan.latent import parse_int_list, parse_layers, resolve_class

    rows, cols = parse_int_list(row_seeds), parse_int_list(col_seeds)
    if out.suffix.lower() != ".png":
        raise StyleGANError(f"{out}: the grid is written as PNG; use the .png suffix")
    G, cutoff, centroid_tensor = load_for_rendering(network, device, psi, cutoff, centroids)
    layer_list = parse_layers(layers, G.num_ws)
    class_index = None if class_spec is None else resolve_class(G, class_spec)
    with ProgressBar("mixing", 1) as bar:
        grid = mix_grid(G, rows, cols, layer_list, class_index, psi, cutoff, centroid_tensor, noise_mode,
                        noise_seed, progress=bar.report)  # fmt: skip
    path = save_image(grid, out)
    click.echo(
        f"wrote {path} ({_count(len(rows), 'row')} x {_count(len(cols), 'column')}, layers {_ranges(layer_list)})"
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _ranges(indices: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5'."""
    parts, start = [], None
    for position, value in enumerate(indices):
        if start is None:
            start = value
        if position + 1 == len(indices) or indices[position + 1] != value + 1:
            parts.append(str(start) if start == value else f"{start}-{value}")
            start = None
    return ",".join(parts)
