"""`stylegan invert`: the latent (and optionally a tuned generator) that draws an image."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from stylegan_cli.group import INTERRUPTED_EXIT_CODE
from stylegan_cli.options import ProgressBar, device_option, load_for_rendering, network_option


@click.command()
@network_option
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
@device_option
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

    G, _, _ = load_for_rendering(network, device, 1.0, None, None)
    target_image = load_target(target, G.img_resolution, G.img_channels).to(G.device)
    lpips_model, loss_note = load_lpips(G.device)
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
            with ProgressBar(description, optimiser.num_steps) as bar:

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
