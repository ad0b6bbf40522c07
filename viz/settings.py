"""Per-user settings that should survive a restart (recent models, window size, open panels), as JSON, and the
per-user folder the visualizer writes its files to."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from stylegan.io.atomic import atomic_path


def data_folder() -> Path:
    """Where the visualizer writes what a person makes (captures, sessions, latents) unless told otherwise: not
    the current folder, which may be a source checkout or read-only. STYLEGAN_STUDIO_DATA overrides it."""
    override = os.environ.get("STYLEGAN_STUDIO_DATA")
    if override:
        return Path(override)
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "stylegan-studio"


def default_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "stylegan-studio" / "visualizer.json"


class Settings(dict):
    """A dict saved to a JSON file. A missing file gives empty settings; a corrupt one a warning and the same."""

    def __init__(self, path: Path | None, values: dict | None = None):
        super().__init__(values or {})
        self.path = path

    @classmethod
    def load(cls, path: str | Path | None = None) -> Settings:
        path = Path(os.environ.get("STYLEGAN_VIZ_SETTINGS", "") or path or default_path())
        if not path.exists():
            return cls(path)
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(values, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as error:
            warnings.warn(f"ignoring the visualizer settings in {path} ({error})", stacklevel=2)
            return cls(path)
        return cls(path, values)

    def save(self) -> None:
        if self.path is None:
            return
        try:
            with atomic_path(self.path) as tmp_path:
                tmp_path.write_text(json.dumps(self, indent=2), encoding="utf-8")
        except Exception as error:  # settings are a convenience: never lose the session over them
            warnings.warn(f"could not save the visualizer settings to {self.path} ({error})", stacklevel=2)
