"""The `stylegan` command. Each verb is a thin wrapper over the library."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from stylegan.errors import StyleGANError

USER_ERROR_EXIT_CODE = 2


class _Group(click.Group):
    """Prints a StyleGANError as one line (no traceback) and exits with code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except StyleGANError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(USER_ERROR_EXIT_CODE)


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


if __name__ == "__main__":
    main()
