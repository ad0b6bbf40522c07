"""`stylegan info`: a model's dimensions and its table of synthesis layers."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text


@click.command()
@click.argument("model")
def info(model: str) -> None:
    """Print a model's dimensions and its table of synthesis layers.

    MODEL is a .safetensors file, an official .pkl, or a preset name.
    """
    import stylegan
    from stylegan.io.untrusted import escape, excerpt
    from stylegan.networks.summary import parameter_count

    def shown(value: object, limit: int = 200) -> str:
        """Text from the file or the command line, as data: escaped, bounded, never read as markup."""
        return escape(value, limit) if isinstance(value, str) else excerpt(value, limit)

    G = stylegan.load(model)
    console = Console(highlight=False)
    console.print(Text(shown(model, 300), style="bold"), soft_wrap=True)
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
            facts.append((key.replace("_", " "), shown(G.metadata[key])))
    if G.metadata.get("random_init"):
        facts.append(("weights", "random (preset)"))
    for key, value in facts:
        console.print(Text(f"  {key:<22} {value}"), soft_wrap=True)

    table = Table(show_edge=False, pad_edge=False)
    for column in ("#", "layer", "size", "channels", "sampling rate", "cutoff", "fp16"):
        table.add_column(column, justify="left" if column == "layer" else "right")
    for index, row in enumerate(G.layers()):
        table.add_row(
            str(index),
            Text(shown(row.name, 80)),
            str(row.size),
            str(row.channels),
            "-" if row.sampling_rate is None else f"{row.sampling_rate:g}",
            "-" if row.cutoff is None else f"{row.cutoff:.3f}",
            "yes" if row.fp16 else "no",
        )
    console.print(table)
