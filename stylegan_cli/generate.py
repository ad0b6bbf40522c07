"""`stylegan generate`: one PNG per seed, or the image a saved view shows."""

from __future__ import annotations

from pathlib import Path

import click

from stylegan.errors import StyleGANError
from stylegan_cli.options import (
    ProgressBar,
    device_option,
    load_for_rendering,
    noise_options,
    truncation_options,
)


@click.command()
@click.option(
    "--network", "-n", "network", help="A .safetensors file, an official .pkl, or a bundled model name."
)
@click.option("--seeds", help="Seeds, e.g. 0-7,42.")
@click.option(
    "--session",
    type=click.Path(path_type=Path),
    help="Render a session saved by the visualizer (what it showed) instead of seeds.",
)
@click.option(
    "--class", "class_spec", help="Class number or (part of a) name; default: each seed's own draw."
)
@truncation_options
@noise_options
@click.option("--outdir", required=True, type=click.Path(path_type=Path), help="Folder for the images.")
@click.option("--grid", help="Also write grid.png with all images, columns x rows, e.g. 4x2.")
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True, help="Images per batch.")
@device_option
def generate(
    network,
    seeds,
    session,
    class_spec,
    psi,
    cutoff,
    centroids,
    noise_mode,
    noise_seed,
    outdir,
    grid,
    batch,
    device,
):
    """Generate one PNG per seed (seed0042.png, or seed0042-class0207.png for class-conditional models), or
    with --session the image a saved visualizer session shows (SESSION.png)."""
    if session is not None:
        _render_session(session, network, outdir, device)
        return
    if network is None or seeds is None:
        raise StyleGANError("give --network and --seeds (or --session)")
    import numpy as np
    import torch

    from stylegan.images import make_grid, parse_grid, save_image, to_uint8
    from stylegan.latent import (
        map_to_w,
        one_hot,
        parse_int_list,
        resolve_class,
        seed_classes,
        synthesize,
        z_from_seeds,
    )

    seed_list = parse_int_list(seeds)
    grid_shape = parse_grid(grid) if grid else None
    if grid_shape and len(seed_list) > grid_shape[0] * grid_shape[1]:
        raise StyleGANError(
            f"a {grid} grid holds {grid_shape[0] * grid_shape[1]} images, not {len(seed_list)}"
        )
    G, cutoff, centroid_tensor = load_for_rendering(network, device, psi, cutoff, centroids)
    class_index = None if class_spec is None else resolve_class(G, class_spec)
    classes = seed_classes(G, seed_list, class_index)
    written, images = [], []
    with ProgressBar("generating", len(seed_list)) as bar:
        for start in range(0, len(seed_list), batch):
            batch_seeds, batch_classes = seed_list[start : start + batch], classes[start : start + batch]
            with torch.no_grad():
                z = z_from_seeds(batch_seeds, G.z_dim, G.device)
                ws = map_to_w(G, z, one_hot(batch_classes, G.c_dim, z.device), psi, cutoff, centroid_tensor)
                pixels = to_uint8(synthesize(G, ws, noise_mode, noise_seed))
            for seed, class_index_, image in zip(batch_seeds, batch_classes, pixels, strict=True):
                name = f"seed{seed:04d}" + (f"-class{class_index_:04d}" if G.c_dim else "") + ".png"
                written.append(save_image(image, outdir / name))
            images.extend(pixels)
            bar.advance(len(batch_seeds))
    click.echo(f"wrote {len(written)} images to {outdir}")
    if grid_shape:
        path = save_image(make_grid(np.stack(images), *grid_shape), outdir / "grid.png")
        click.echo(f"wrote {path}")


def _render_session(session: Path, network: str | None, outdir: Path, device: str) -> None:
    import stylegan
    from stylegan.images import save_image
    from stylegan.view import load_session, render_view

    args, _ = load_session(session)
    args = args.replace(device=device, model=network or args.model)
    G = stylegan.load(args.model, device=device).eval()
    path = save_image(render_view(G, args).image, outdir / f"{session.stem}.png")
    click.echo(f"wrote {path} ({args.model})")
