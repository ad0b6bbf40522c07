"""`stylegan convert`: an official network pickle into our .safetensors format."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
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
