"""Entry point of the visualizer, shared by `python visualizer.py`, `stylegan viz` and `make viz`."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="StyleGAN-XL studio: explore, edit, invert and export live.")
    parser.add_argument("models", nargs="*", help=".safetensors, official .pkl, or preset names")
    parser.add_argument("--sync", action="store_true", help="render in the UI thread (no worker thread)")
    options = parser.parse_args(argv)
    from gui_utils.window import WindowError
    from viz.app import Visualizer

    try:
        app = Visualizer(options.models, threaded=not options.sync)
    except WindowError as error:
        print(f"error: {error}")
        return 2
    app.run()
    return 0
