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
    import numpy as np
    import torch

    from stylegan.images import make_grid, save_image, to_uint8
    from stylegan.latent import (
        map_to_w,
        one_hot,
        parse_int_list,
        parse_layers,
        resolve_class,
        seed_classes,
        style_mix,
        synthesize,
        z_from_seeds,
    )

    rows, cols = parse_int_list(row_seeds), parse_int_list(col_seeds)
    if out.suffix.lower() != ".png":
        raise StyleGANError(f"{out}: the grid is written as PNG; use the .png suffix")
    G, cutoff, centroid_tensor = load_for_rendering(network, device, psi, cutoff, centroids)
    layer_list = parse_layers(layers, G.num_ws)
    class_index = None if class_spec is None else resolve_class(G, class_spec)
    seeds = rows + cols
    with torch.no_grad():
        z = z_from_seeds(seeds, G.z_dim, G.device)
        c = one_hot(seed_classes(G, seeds, class_index), G.c_dim, z.device)
        ws = map_to_w(G, z, c, psi, cutoff, centroid_tensor)
        row_ws, col_ws = ws[: len(rows)], ws[len(rows) :]
        cell_ws = torch.cat([style_mix(row_ws[i : i + 1], col_ws, layer_list) for i in range(len(rows))])
        all_ws = torch.cat([col_ws, row_ws, cell_ws])
        pixels = []
        with ProgressBar("mixing", len(all_ws)) as bar:
            for chunk in all_ws.split(8):
                pixels.append(to_uint8(synthesize(G, chunk, noise_mode, noise_seed)))
                bar.advance(len(chunk))
    pixels = np.concatenate(pixels)
    col_images, row_images = pixels[: len(cols)], pixels[len(cols) : len(cols) + len(rows)]
    cell_images = pixels[len(cols) + len(rows) :].reshape(len(rows), len(cols), *pixels.shape[1:])
    blank = np.zeros_like(pixels[:1])
    tiles = [blank, col_images] + [
        np.concatenate([row_images[i : i + 1], cell_images[i]]) for i in range(len(rows))
    ]
    path = save_image(make_grid(np.concatenate(tiles), len(cols) + 1, len(rows) + 1), out)
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
