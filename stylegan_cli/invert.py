"""`stylegan invert`: the latent (and optionally a tuned generator) that draws an image."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from stylegan.inversion import INVERSION_SPACES
from stylegan_cli.group import INTERRUPTED_EXIT_CODE
from stylegan_cli.options import ProgressBar, device_option, load_for_rendering, network_option


@click.command()
@network_option
@click.option("--target", required=True, type=click.Path(path_type=Path), help="The image to invert.")
@click.option(
    "--class", "class_spec", default="auto", show_default=True, help="auto, a class number or name."
)
@click.option("--space", type=click.Choice(INVERSION_SPACES), default="w+", show_default=True)
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
@device_option
def invert(network, target, class_spec, space, steps, pti_steps, pixel_weight, seed, video, outdir, device):
    """Invert an image: find the latent (and with --pti-steps, a tuned generator) that draws it.

    Writes target.png, proj.png, projected_w.npz, metrics.json, proj.mp4 and, with PTI, proj_pti.png and
    G_pti.safetensors. Ctrl-C stops early and still writes the best result so far.
    """
    import contextlib

    import numpy as np

    from stylegan.images import to_uint8
    from stylegan.inversion import invert as run_inversion
    from stylegan.inversion import load_target
    from stylegan.perceptual import ReconstructionLoss, load_lpips
    from stylegan.video import VideoWriter

    G, _, _ = load_for_rendering(network, device, 1.0, None, None)
    target_image = load_target(target, G.img_resolution, G.img_channels).to(G.device)
    lpips_model, loss_note = load_lpips(G.device)
    click.echo(f"loss: {loss_note}", err=True)
    loss = ReconstructionLoss(lpips_model, pixel_weight)
    target_pixels = to_uint8(target_image)[0]
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(VideoWriter(outdir / "proj.mp4", fps=60)) if video else None
        bar = stack.enter_context(ProgressBar("inverting", steps + pti_steps))

        def on_step(phase, optimiser, report):
            bar.advance()
            bar.describe(f"{phase} loss {report.loss:.4f} psnr {report.psnr:.2f} dB")
            if writer is not None:
                writer.write(np.concatenate([target_pixels, to_uint8(optimiser.image)[0]], axis=1))

        result = run_inversion(G, target_image, loss, class_spec, space, steps, pti_steps, seed, on_step)
    if result.class_index is not None:
        click.echo(f"class {result.class_index} ({result.class_chosen_by})", err=True)
    metrics = result.save(outdir, tuned_from=str(network))
    best = metrics.get("pti", metrics["pivot"])
    state = "interrupted; wrote the best result so far" if result.interrupted else "done"
    click.echo(f"{state}: PSNR {best['psnr']:.2f} dB, SSIM {best['ssim']:.4f}; results in {outdir}")
    if result.interrupted:
        sys.exit(INTERRUPTED_EXIT_CODE)
