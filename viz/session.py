"""Sessions: the model and every renderer argument as JSON, so a person can come back to exactly what they saw
(and `stylegan generate --session` can render it). Latents given as arrays are stored as nested lists."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np

from stylegan.errors import StyleGANError
from stylegan.io.atomic import atomic_path
from viz.renderer import DEFAULT_ARGS

SESSION_FORMAT = "stylegan-studio-session"


def _encode(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {"ndarray": value.astype(np.float32).tolist()}
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"ndarray"}:
            return np.asarray(value["ndarray"], dtype=np.float32)
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def save_session(path: str | Path, args: dict, panels: dict | None = None) -> Path:
    """Write the renderer arguments (and any panel state) as a session file."""
    path = Path(path)
    state = {"format": SESSION_FORMAT, "version": 1, "args": _encode(args), "panels": _encode(panels or {})}
    with atomic_path(path) as tmp_path:
        tmp_path.write_text(json.dumps(state, indent=1), encoding="utf-8")
    return path


def load_session(path: str | Path) -> tuple[dict, dict]:
    """(renderer arguments with defaults filled in, panel state) from a session file."""
    path = Path(path)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StyleGANError(f"{path}: no such session file") from None
    except (OSError, ValueError) as error:
        raise StyleGANError(f"{path}: not a session file ({error})") from None
    if (
        not isinstance(state, dict)
        or state.get("format") != SESSION_FORMAT
        or not isinstance(state.get("args"), dict)
    ):
        raise StyleGANError(f"{path}: not a session file saved by the visualizer")
    unknown = set(state["args"]) - set(DEFAULT_ARGS)
    if unknown:
        raise StyleGANError(f"{path}: unknown settings {sorted(unknown)} (a session from a newer version?)")
    args = {**copy.deepcopy(DEFAULT_ARGS), **_decode(state["args"])}
    return args, _decode(state.get("panels") or {})
