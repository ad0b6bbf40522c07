"""`stylegan video`: an interpolation video through keyframe seeds."""

from __future__ import annotations

from pathlib import Path

import click

from stylegan.errors import StyleGANError
from stylegan.latent import EASINGS, INTERPOLATION_SPACES
from stylegan_cli.options import (
    ProgressBar,
    device_option,
    load_for_rendering,
    network_option,
    truncation_options,
)


@click.command()
@network_option
@click.option("--seeds", required=True, help="Keyframe seeds; with --grid, consecutive runs go to each cell.")
@click.option(
    "--classes", "class_list", help="One class per seed (numbers, ranges or names), or one for all."
)
@click.option("--frames-per-transition", type=click.IntRange(min=1), default=60, show_default=True)
@click.option("--easing", type=click.Choice(EASINGS), default="cubic", show_default=True)
@click.option(
    "--space",
    type=click.Choice(INTERPOLATION_SPACES),
    default="w",
    show_default=True,
    help="w: blend the keyframes' ws; z: slerp z and blend the class embeddings (class interpolation).",
)
@click.option("--loop", is_flag=True, help="Go back to the first keyframe at the end, for a seamless loop.")
@click.option("--grid", default="1x1", show_default=True, help="Cells of the video, columns x rows.")
@truncation_options
@click.option("--fps", type=float, default=30, show_default=True)
@click.option(
    "--crf", type=click.IntRange(0, 51), default=18, show_default=True, help="H.264 quality, 0 lossless."
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The video, an .mp4 file.")
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True, help="Images per batch.")
@device_option
def video(
    network,
    seeds,
    class_list,
    frames_per_transition,
    easing,
    space,
    loop,
    grid,
    psi,
    cutoff,
    centroids,
    fps,
    crf,
    out,
    batch,
    device,
):
    """An interpolation video through keyframe seeds (H.264 mp4, yuv420p: any player opens it)."""
    from stylegan.images import parse_grid
    from stylegan.latent import Endpoint, keyframe_path, parse_class_list, parse_int_list
    from stylegan.video import VideoWriter, path_frames

    seed_list = parse_int_list(seeds)
    columns, rows = parse_grid(grid)
    cells = columns * rows
    if len(seed_list) % cells:
        raise StyleGANError(f"a {grid} grid needs a multiple of {cells} seeds, got {len(seed_list)}")
    writer = VideoWriter(out, fps=fps, crf=crf)  # checks the suffix, fps and crf before the model loads
    G, cutoff, centroid_tensor = load_for_rendering(network, device, psi, cutoff, centroids)
    classes = [None] * len(seed_list)
    if class_list is not None:
        classes = parse_class_list(G, class_list)
        if len(classes) == 1:
            classes = classes * len(seed_list)
        if len(classes) != len(seed_list):
            raise StyleGANError(
                f"give one class per seed ({len(seed_list)}) or one for all, not {len(classes)}"
            )
    endpoints = [Endpoint(seed=seed, class_index=c) for seed, c in zip(seed_list, classes, strict=True)]
    keyframes = len(seed_list) // cells
    cell_keys = [endpoints[i * keyframes : (i + 1) * keyframes] for i in range(cells)]
    path = keyframe_path(keyframes, frames_per_transition, easing, loop)
    frames = path_frames(G, cell_keys, path, columns, rows, space, psi, cutoff, centroid_tensor, batch)
    with writer, ProgressBar("rendering", path.num_frames) as bar:
        for frame in frames:
            writer.write(frame)
            bar.advance()
    seconds = path.num_frames / fps
    click.echo(f"wrote {out} ({path.num_frames} frames, {seconds:.1f} s at {fps:g} fps)")
