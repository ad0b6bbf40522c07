"""Sessions as the panels use them today: the view as a dict of its fields. The file format, and every check
of it, is `stylegan.view`'s."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from stylegan import view


def save_session(path: str | Path, args: dict, panels: dict | None = None) -> Path:
    return view.save_session(path, view.ViewArgs.from_json(args), panels)


def load_session(path: str | Path) -> tuple[dict, dict]:
    args, panels = view.load_session(path)
    return dataclasses.asdict(args), panels
