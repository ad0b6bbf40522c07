"""The `stylegan` command. Each verb is a thin wrapper over the library."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from stylegan.errors import StyleGANError
from stylegan.latent import EASINGS, SPACES
from stylegan.networks.stylegan2 import NOISE_MODES

USER_ERROR_EXIT_CODE = 2


INTERRUPTED_EXIT_CODE = 130


class _Group(click.Group):
    """Prints a StyleGANError as one line (no traceback) and exits with code 2; Ctrl-C exits with 130."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except StyleGANError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(USER_ERROR_EXIT_CODE)
        except KeyboardInterrupt:
            click.echo(
                "interrupted: files already reported are complete; nothing partial was written", err=True
            )
            sys.exit(INTERRUPTED_EXIT_CODE)


@click.group(cls=_Group)
@click.version_option(package_name="stylegan-studio")
def main() -> None:
    """StyleGAN-XL studio: inspect, convert and run generators."""


@main.command()
@click.argument("model")
def info(model: str) -> None:
    """Print a model's dimensions and its table of synthesis layers.

    MODEL is a .safetensors file, an official .pkl, or a preset name.
    """
    import stylegan
    from stylegan.networks.summary import layer_rows, parameter_count

    G = stylegan.load(model)
    console = Console()
    console.print(f"[bold]{model}[/bold]")
    facts = [
        ("architecture", G.architecture),
        ("resolution", f"{G.img_resolution}x{G.img_resolution}, {G.img_channels} channels"),
        ("z_dim / w_dim / c_dim", f"{G.z_dim} / {G.w_dim} / {G.c_dim}"),
        ("num_ws", str(G.num_ws)),
        ("parameters", f"{parameter_count(G):,}"),
    ]
    stem = getattr(G.synthesis, "stem_layers", 0)
    if stem:
        facts.append(("frozen stem", f"first {stem} layers"))
    for key in ("source", "source_format", "official_class"):
        if key in G.metadata:
            facts.append((key.replace("_", " "), str(G.metadata[key])))
    if G.metadata.get("random_init"):
        facts.append(("weights", "random (preset)"))
    for key, value in facts:
        console.print(f"  {key:<22} {value}")

    table = Table(show_edge=False, pad_edge=False)
    for column in ("#", "layer", "size", "channels", "sampling rate", "cutoff", "fp16"):
        table.add_column(column, justify="left" if column == "layer" else "right")
    for index, row in enumerate(layer_rows(G)):
        table.add_row(
            str(index),
            row.name,
            str(row.size),
            str(row.channels),
            "-" if row.sampling_rate is None else f"{row.sampling_rate:g}",
            "-" if row.cutoff is None else f"{row.cutoff:.3f}",
            "yes" if row.fp16 else "no",
        )
    console.print(table)


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("dest", type=click.Path(path_type=Path))
def convert(source: Path, dest: Path) -> None:
    """Convert an official network pickle SOURCE into our .safetensors format DEST.

    The pickle is read with a restricted unpickler: no code from it runs.
    """
    import stylegan

    G = stylegan.load(source)
    written = stylegan.save(G, dest)
    click.echo(
        f"wrote {written} ({G.architecture}, {G.img_resolution}x{G.img_resolution}, num_ws {G.num_ws})"
    )


# ---------------------------------------------------------------------------------------------------------------
# Making images and videos


def _network_option(function):
    return click.option(
        "--network",
        "-n",
        "network",
        required=True,
        help="A .safetensors file, an official .pkl, or a bundled model name (see `stylegan info`).",
    )(function)


def _device_option(function):
    return click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")(function)


def _truncation_options(function):
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


def _noise_options(function):
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


def _load_for_rendering(network: str, device: str, psi: float, cutoff: int | None, centroids: Path | None):
    """The generator on its device, the checked truncation cutoff, and the centroids tensor (or None)."""
    import torch

    import stylegan
    from stylegan.latent import load_centroids

    try:
        device = torch.device(device)
    except RuntimeError:
        raise StyleGANError(f"unknown device {device!r}: use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise StyleGANError("CUDA is not available on this machine; use --device cpu")
    G = stylegan.load(network, device=device).eval()
    if cutoff is not None and not 0 <= cutoff <= G.num_ws:
        raise StyleGANError(
            f"cutoff {cutoff} is out of range: this model has {G.num_ws} ws (0 to {G.num_ws})"
        )
    centroid_tensor = None if centroids is None else load_centroids(centroids, G.w_dim, device)
    return G, cutoff, centroid_tensor


class _ProgressBar:
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

    def __enter__(self) -> _ProgressBar:
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


@main.command()
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
@_truncation_options
@_noise_options
@click.option("--outdir", required=True, type=click.Path(path_type=Path), help="Folder for the images.")
@click.option("--grid", help="Also write grid.png with all images, columns x rows, e.g. 4x2.")
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True, help="Images per batch.")
@_device_option
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
    G, cutoff, centroid_tensor = _load_for_rendering(network, device, psi, cutoff, centroids)
    class_index = None if class_spec is None else resolve_class(G, class_spec)
    classes = seed_classes(G, seed_list, class_index)
    written, images = [], []
    with _ProgressBar("generating", len(seed_list)) as bar:
        for start in range(0, len(seed_list), batch):
            batch_seeds, batch_classes = seed_list[start : start + batch], classes[start : start + batch]
            with torch.no_grad():
                z = z_from_seeds(batch_seeds, G.z_dim, G.mapping.w_avg.device)
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


@main.command()
@_network_option
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
@_truncation_options
@_noise_options
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The grid, a .png file.")
@_device_option
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
    G, cutoff, centroid_tensor = _load_for_rendering(network, device, psi, cutoff, centroids)
    layer_list = parse_layers(layers, G.num_ws)
    class_index = None if class_spec is None else resolve_class(G, class_spec)
    seeds = rows + cols
    with torch.no_grad():
        z = z_from_seeds(seeds, G.z_dim, G.mapping.w_avg.device)
        c = one_hot(seed_classes(G, seeds, class_index), G.c_dim, z.device)
        ws = map_to_w(G, z, c, psi, cutoff, centroid_tensor)
        row_ws, col_ws = ws[: len(rows)], ws[len(rows) :]
        cell_ws = torch.cat([style_mix(row_ws[i : i + 1], col_ws, layer_list) for i in range(len(rows))])
        all_ws = torch.cat([col_ws, row_ws, cell_ws])
        pixels = []
        with _ProgressBar("mixing", len(all_ws)) as bar:
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


@main.command()
@_network_option
@click.option("--seeds", required=True, help="Keyframe seeds; with --grid, consecutive runs go to each cell.")
@click.option(
    "--classes", "class_list", help="One class per seed (numbers, ranges or names), or one for all."
)
@click.option("--frames-per-transition", type=click.IntRange(min=1), default=60, show_default=True)
@click.option("--easing", type=click.Choice(EASINGS), default="cubic", show_default=True)
@click.option(
    "--space",
    type=click.Choice(SPACES),
    default="w",
    show_default=True,
    help="w: blend the keyframes' ws; z: slerp z and blend the class embeddings (class interpolation).",
)
@click.option("--loop", is_flag=True, help="Go back to the first keyframe at the end, for a seamless loop.")
@click.option("--grid", default="1x1", show_default=True, help="Cells of the video, columns x rows.")
@_truncation_options
@click.option("--fps", type=float, default=30, show_default=True)
@click.option(
    "--crf", type=click.IntRange(0, 51), default=18, show_default=True, help="H.264 quality, 0 lossless."
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The video, an .mp4 file.")
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True, help="Images per batch.")
@_device_option
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
    G, cutoff, centroid_tensor = _load_for_rendering(network, device, psi, cutoff, centroids)
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
    with writer, _ProgressBar("rendering", path.num_frames) as bar:
        for frame in frames:
            writer.write(frame)
            bar.advance()
    seconds = path.num_frames / fps
    click.echo(f"wrote {out} ({path.num_frames} frames, {seconds:.1f} s at {fps:g} fps)")


@main.command()
@_network_option
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
@_device_option
def centroids(network, out, samples, num_centroids, class_spec, iterations, seed, device):
    """Compute W centroids for multimodal truncation (k-means on sampled ws; the official ImageNet file used
    600k samples and 10k centroids)."""
    import numpy as np

    from stylegan.io.atomic import atomic_path
    from stylegan.latent import compute_centroids, resolve_class

    if out.suffix != ".npy":
        raise StyleGANError(f"{out}: centroids are written as .npy; use that suffix")
    G, _, _ = _load_for_rendering(network, device, 1.0, None, None)
    class_index = None if class_spec is None else resolve_class(G, class_spec)
    with _ProgressBar("sampling, k-means", 1) as bar:
        result = compute_centroids(
            G, samples, num_centroids, seed, class_index, iterations, progress=bar.report
        )
    with atomic_path(out) as tmp_path, tmp_path.open("wb") as f:
        np.save(f, result)
    click.echo(f"wrote {out} ({result.shape[0]} centroids of {result.shape[1]} dimensions)")


@main.command()
@_network_option
@click.option("--target", required=True, type=click.Path(path_type=Path), help="The image to invert.")
@click.option(
    "--class", "class_spec", default="auto", show_default=True, help="auto, a class number or name."
)
@click.option("--space", type=click.Choice(["w", "w+"]), default="w+", show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option(
    "--pti-steps", type=click.IntRange(min=0), default=0, show_default=True, help="Pivotal tuning, 0 = off."
)
@click.option(
    "--pixel-weight", type=float, default=0.0, show_default=True, help="Weight of an MSE term added to LPIPS."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--video/--no-video", default=True, show_default=True, help="Write the optimisation as proj.mp4."
)
@click.option("--outdir", required=True, type=click.Path(path_type=Path))
@_device_option
def invert(network, target, class_spec, space, steps, pti_steps, pixel_weight, seed, video, outdir, device):
    """Invert an image: find the latent (and with --pti-steps, a tuned generator) that draws it.

    Writes target.png, proj.png, projected_w.npz, metrics.json, proj.mp4 and, with PTI, proj_pti.png and
    G_pti.safetensors. Ctrl-C stops early and still writes the best result so far.
    """
    import contextlib
    import json

    import numpy as np
    import torch

    import stylegan
    from stylegan.images import save_image, to_uint8
    from stylegan.inversion import (
        PivotalTuner,
        Projector,
        load_target,
        resolve_start_class,
        run_steps,
        save_latent,
    )
    from stylegan.io.atomic import atomic_path
    from stylegan.perceptual import ReconstructionLoss, load_lpips, reconstruction_metrics
    from stylegan.video import VideoWriter

    G, _, _ = _load_for_rendering(network, device, 1.0, None, None)
    target_image = load_target(target, G.img_resolution, G.img_channels).to(G.mapping.w_avg.device)
    lpips_model, loss_note = load_lpips(G.mapping.w_avg.device)
    click.echo(f"loss: {loss_note}", err=True)
    loss = ReconstructionLoss(lpips_model, pixel_weight)
    class_index, how = resolve_start_class(G, class_spec, target_image, loss)
    if class_index is not None:
        click.echo(f"class {class_index} ({how})", err=True)
    save_image(to_uint8(target_image)[0], outdir / "target.png")
    target_pixels = to_uint8(target_image)[0]

    interrupted = False
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(VideoWriter(outdir / "proj.mp4", fps=60)) if video else None

        def run(optimiser, description):
            nonlocal interrupted
            with _ProgressBar(description, optimiser.num_steps) as bar:

                def on_step(report):
                    bar.advance()
                    bar.describe(f"{description} loss {report.loss:.4f} psnr {report.psnr:.2f} dB")
                    if writer is not None:
                        writer.write(np.concatenate([target_pixels, to_uint8(optimiser.image)[0]], axis=1))

                try:
                    run_steps(optimiser, on_step)
                except KeyboardInterrupt:
                    interrupted = True

        projector = Projector(G, target_image, loss, class_index, space, steps, seed)
        run(projector, "inverting")
        pivot = projector.best_ws
        tuned = None
        if pti_steps and not interrupted:
            tuner = PivotalTuner(projector.G, pivot, target_image, loss, pti_steps, seed)
            run(tuner, "tuning")
            tuned = tuner.tuned_generator()

    with torch.no_grad():
        reconstruction = projector.G.synthesis(pivot)
        results = {"space": space, "class": class_index, "class_chosen_by": how, "loss": loss.name,
                   "steps": projector.steps_done, "interrupted": interrupted}  # fmt: skip
        results["pivot"] = reconstruction_metrics(reconstruction, target_image, lpips_model)
        save_image(to_uint8(reconstruction)[0], outdir / "proj.png")
        save_latent(outdir / "projected_w.npz", pivot, class_index, space)
        if tuned is not None:
            tuned_image = tuned.synthesis(pivot)
            results["pti"] = reconstruction_metrics(tuned_image, target_image, lpips_model)
            results["pti_steps"] = tuner.steps_done
            save_image(to_uint8(tuned_image)[0], outdir / "proj_pti.png")
            stylegan.save(
                tuned, outdir / "G_pti.safetensors", tuned_from=str(network), pivot_class=class_index
            )
    with atomic_path(outdir / "metrics.json") as tmp_path:
        tmp_path.write_text(json.dumps(results, indent=2) + "\n")
    best = results.get("pti", results["pivot"])
    state = "interrupted; wrote the best result so far" if interrupted else "done"
    click.echo(f"{state}: PSNR {best['psnr']:.2f} dB, SSIM {best['ssim']:.4f}; results in {outdir}")
    if interrupted:
        sys.exit(INTERRUPTED_EXIT_CODE)


@main.command(context_settings=dict(ignore_unknown_options=True))
@click.argument("models", nargs=-1)
@click.option("--sync", is_flag=True, help="Render in the UI thread (no worker thread).")
def viz(models, sync):
    """Open the visualizer (the same as `python visualizer.py [MODEL ...]`)."""
    from viz.main import main as visualizer_main

    sys.exit(visualizer_main([*models] + (["--sync"] if sync else [])))


def _render_session(session: Path, network: str | None, outdir: Path, device: str) -> None:
    from stylegan.images import save_image
    from viz.renderer import Renderer
    from viz.session import load_session

    args, _ = load_session(session)
    args["device"] = device
    if network is not None:
        args["model"] = network
    result = Renderer().render(args)
    if result["error"]:
        raise StyleGANError(f"{session}: {result['error']}")
    path = save_image(result["image"], outdir / f"{session.stem}.png")
    click.echo(f"wrote {path} ({args['model']})")


@main.group(invoke_without_command=True)
@click.option("--source", type=click.Path(path_type=Path), help="A folder or zip of images.")
@click.option("--dest", type=click.Path(path_type=Path), help="The training zip to write.")
@click.option("--resolution", type=int, help="Output size, a power of two (e.g. 256).")
@click.option("--transform", type=click.Choice(["center-crop", "center-crop-wide"]), default="center-crop",
              show_default=True)  # fmt: skip
@click.option("--max-images", type=click.IntRange(min=1), help="Stop after this many images.")
@click.pass_context
def dataset(ctx, source, dest, resolution, transform, max_images):
    """Make a training dataset: square PNGs in a zip, with class subfolders as labels.

    `stylegan dataset --source DIR --dest D.zip --resolution N` converts images; `stylegan dataset emoji ...`
    renders a labelled set from a colour emoji font.
    """
    if ctx.invoked_subcommand is not None:
        return
    missing = [name for name, value in (("--source", source), ("--dest", dest), ("--resolution", resolution))
               if value is None]  # fmt: skip
    if missing:
        raise StyleGANError(
            f"stylegan dataset needs {', '.join(missing)} (or: stylegan dataset emoji --help)"
        )
    from training.dataset_tool import make_dataset

    with _ProgressBar("converting", 1) as bar:
        report = make_dataset(source, dest, resolution, transform, max_images, progress=bar.report)
    for line in report.skipped:
        click.echo(f"skipped {line}", err=True)
    classes = f", {len(report.class_names)} classes" if report.class_names else ""
    skipped = f"; skipped {len(report.skipped)} unreadable files" if report.skipped else ""
    click.echo(f"wrote {dest}: {report.written} images of {resolution}x{resolution}{classes}{skipped}")


@dataset.command("emoji")
@click.option("--dest", required=True, type=click.Path(path_type=Path), help="The training zip to write.")
@click.option("--resolution", type=click.Choice(["16", "32", "64", "128"]), default="32", show_default=True)
@click.option("--font", type=click.Path(path_type=Path),
              help="A colour emoji font (default: Noto Color Emoji of Debian's fonts-noto-color-emoji).")  # fmt: skip
@click.option("--emoji-test", type=click.Path(path_type=Path),
              help="Unicode's emoji-test.txt (default: the one of Debian's unicode-data).")  # fmt: skip
@click.option("--classes", type=click.Choice(["group", "subgroup"]), default="subgroup", show_default=True)
@click.option("--min-per-class", type=click.IntRange(min=1), default=1, show_default=True,
              help="Only classes with at least this many emoji.")  # fmt: skip
@click.option("--only", help="Comma-separated class names to keep, exactly as in emoji-test.txt.")
@click.option("--default-classes", is_flag=True, help="The bundled default model's ten subgroups.")
def dataset_emoji(dest, resolution, font, emoji_test, classes, min_per_class, only, default_classes):
    """Render emoji into a labelled training zip; classes are emoji-test.txt's groups or subgroups."""
    from training.emoji import DEFAULT_EMOJI_TEST, DEFAULT_FONT, DEFAULT_SUBGROUPS, make_emoji_dataset

    if default_classes and (only or classes != "subgroup"):
        raise StyleGANError("--default-classes picks subgroups itself: leave out --only and --classes")
    names = list(DEFAULT_SUBGROUPS) if default_classes else None
    if only:
        names = [name.strip() for name in only.split(",") if name.strip()]
    with _ProgressBar("rendering", 1) as bar:
        report = make_emoji_dataset(
            dest,
            int(resolution),
            font or DEFAULT_FONT,
            emoji_test or DEFAULT_EMOJI_TEST,
            classes,
            min_per_class,
            names,
            progress=bar.report,
        )
    for name, count in zip(report.class_names, report.counts, strict=True):
        click.echo(f"  {count:5d}  {name}")
    dropped = f"; dropped {len(report.dropped)} the font cannot draw" if report.dropped else ""
    click.echo(
        f"wrote {dest}: {report.written} emoji of {resolution}x{resolution} in {len(report.class_names)} "
        f"classes{dropped}"
    )


@main.command()
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    help="Training zip or folder (see `stylegan dataset`); on --resume: the run's own, or its new place.",
)
@click.option(
    "--outdir",
    type=click.Path(path_type=Path),
    help="Folder for snapshots and logs (on --resume: the resumed folder).",
)
@click.option(
    "--kimg",
    type=click.FloatRange(min=0),
    default=1000,
    show_default=True,
    help="Train on this many thousand images.",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="Images per step, all processes together.",
)
@click.option(
    "--batch-gpu", type=click.IntRange(min=1), help="Images per forward pass (gradient accumulation)."
)
@click.option(
    "--cond/--no-cond", default=None, help="Class-conditional (default: when the dataset has labels)."
)
@click.option("--mirror", is_flag=True, help="Add x-flipped copies of the images.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--cbase",
    type=click.IntRange(min=1),
    default=32768,
    show_default=True,
    help="Stem capacity (official --cbase x 2).",
)
@click.option(
    "--cmax",
    type=click.IntRange(min=1),
    default=512,
    show_default=True,
    help="Stem max channels (official --cmax x 2).",
)
@click.option(
    "--syn-layers", type=click.IntRange(min=1), default=10, show_default=True, help="Layers of the stem."
)
@click.option("--z-dim", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--w-dim", type=click.IntRange(min=1), default=512, show_default=True)
@click.option(
    "--superres", is_flag=True, help="Train the next stage of --stem: grow it, train only the new head."
)
@click.option(
    "--stem", type=click.Path(path_type=Path), help="The trained generator to grow (with --superres)."
)
@click.option("--head-layers", type=click.IntRange(min=1), default=7, show_default=True)
@click.option("--up-factor", type=click.IntRange(min=2), default=2, show_default=True)
@click.option("--backbones", default="tf_efficientnet_lite0,deit_base_distilled_patch16_224", show_default=True,
              help="timm feature networks of the discriminator.")  # fmt: skip
@click.option("--no-pretrained", is_flag=True,
              help="Random feature networks and classifier (offline tests); the FID stays pretrained.")  # fmt: skip
@click.option("--d-width-max", type=click.IntRange(min=1), help="Cap on the discriminator heads' channels.")
@click.option(
    "--d-cout",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Channels of the finest mixed features.",
)
@click.option(
    "--d-input-size",
    type=click.IntRange(min=64),
    default=224,
    show_default=True,
    help="Smaller images are resized to this for the feature networks (64-128 is much faster for small images).",
)
@click.option(
    "--blur-fade-kimg",
    type=click.FloatRange(min=0),
    default=200,
    show_default=True,
    help="The blur of D's inputs fades out over this many kimg.",
)
@click.option("--glr", type=float, default=0.0025, show_default=True)
@click.option("--dlr", type=float, default=0.002, show_default=True)
@click.option(
    "--cls-weight", type=float, help="Classifier guidance weight (default 8 on conditional stages >= 32x32)."
)
@click.option("--pl-weight", type=float, help="Path-length weight (default 2 for a stem, 0 for a stage).")
@click.option("--no-amp", is_flag=True, help="Run the discriminator in float32 on CUDA.")
@click.option("--workers", type=click.IntRange(min=0), default=2, show_default=True)
@click.option(
    "--tick",
    type=click.FloatRange(min=0, min_open=True),
    default=4,
    show_default=True,
    help="kimg per status line.",
)
@click.option("--snap", type=click.IntRange(min=1), default=50, show_default=True, help="Ticks per snapshot.")
@click.option(
    "--fid-images",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="FID at each snapshot on this many images.",
)
@click.option(
    "--fid-patience",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Stop when FID has not improved for this many snapshots.",
)
@click.option(
    "--fid-network",
    type=click.Choice(["inception_v3", "tf_efficientnet_lite0"]),
    help="Features of the FID (default: inception_v3 where its weights are, else tf_efficientnet_lite0: 'FD-lite0').",
)
@click.option(
    "--resume", type=click.Path(path_type=Path), help="Continue the run in this folder (or state file)."
)
@click.option("--device", help="cpu, cuda or cuda:N (default: this process's GPU, else CPU).")
def train(**kw):
    """Train a StyleGAN-XL stem, or (--superres --stem) its next stage. Run under torchrun for several GPUs."""
    import torch

    from training.loop import Trainer, TrainingOptions

    if kw["superres"] != (kw["stem"] is not None):
        raise StyleGANError("--superres and --stem go together: --superres --stem STEM.safetensors")
    resume = kw["resume"]
    if resume is None and (kw["data"] is None or kw["outdir"] is None):
        raise StyleGANError("a new run needs --data and --outdir (or continue one with --resume RUN)")
    outdir = kw["outdir"] or (resume if resume.is_dir() else resume.parent)
    options = TrainingOptions(
        data=None if kw["data"] is None else str(kw["data"]), outdir=str(outdir), kimg=kw["kimg"],
        batch=kw["batch"], batch_gpu=kw["batch_gpu"], cond=kw["cond"], mirror=kw["mirror"], seed=kw["seed"], cbase=kw["cbase"],
        cmax=kw["cmax"], syn_layers=kw["syn_layers"], z_dim=kw["z_dim"], w_dim=kw["w_dim"],
        stem=None if kw["stem"] is None else str(kw["stem"]), head_layers=kw["head_layers"],
        up_factor=kw["up_factor"], backbones=[name.strip() for name in kw["backbones"].split(",") if name.strip()],
        pretrained=not kw["no_pretrained"], d_cout=kw["d_cout"], d_width_max=kw["d_width_max"],
        d_input_size=kw["d_input_size"], blur_fade_kimg=kw["blur_fade_kimg"], glr=kw["glr"],
        dlr=kw["dlr"], cls_weight=kw["cls_weight"], pl_weight=kw["pl_weight"], amp=not kw["no_amp"],
        workers=kw["workers"], tick_kimg=kw["tick"], snap_ticks=kw["snap"], fid_images=kw["fid_images"],
        fid_patience=kw["fid_patience"], fid_network=kw["fid_network"], device=kw["device"],
    )  # fmt: skip
    trainer = Trainer(options, log=click.echo, resume=None if resume is None else str(resume))
    snapshot = trainer.run()
    if torch.distributed.is_initialized():
        # Under torchrun: left to interpreter exit, gloo's threads can abort the process after a finished run.
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    click.echo(f"done: {snapshot}")


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


if __name__ == "__main__":
    main()
