"""`stylegan dataset` and `stylegan dataset emoji`: training zips."""

from __future__ import annotations

from pathlib import Path

import click

from stylegan.errors import StyleGANError
from stylegan_cli.options import ProgressBar


@click.group(invoke_without_command=True)
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

    with ProgressBar("converting", 1) as bar:
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
    with ProgressBar("rendering", 1) as bar:
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
