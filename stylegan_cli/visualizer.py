"""`stylegan viz`: open the visualizer."""

from __future__ import annotations

import sys

import click


@click.command(context_settings=dict(ignore_unknown_options=True))
@click.argument("models", nargs=-1)
@click.option("--sync", is_flag=True, help="Render in the UI thread (no worker thread).")
def viz(models, sync):
    """Open the visualizer (the same as `python visualizer.py [MODEL ...]`)."""
    from viz.main import main as visualizer_main

    sys.exit(visualizer_main([*models] + (["--sync"] if sync else [])))
