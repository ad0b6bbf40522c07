"""`stylegan.load` and `stylegan.save`: one door for every kind of model a person can name."""

from __future__ import annotations

from pathlib import Path

import torch

from stylegan.errors import StyleGANError
from stylegan.io.checkpoint import load_checkpoint, save_checkpoint
from stylegan.io.official import load_official_pickle
from stylegan.io.untrusted import escape
from stylegan.networks.generator import Generator
from stylegan.networks.presets import PRESETS, create_generator

PICKLE_SUFFIXES = (".pkl", ".pickle")
MODEL_SUFFIXES = (".safetensors", *PICKLE_SUFFIXES)  # what a model file may be called
_DATA = Path(__file__).resolve().parent.parent / "data"
# Trained models shipped inside the package, by name (the model card is in the README).
BUNDLED_MODELS = {"default": _DATA / "default.safetensors"}


def load(path_or_name: str | Path, device: str | torch.device = "cpu") -> Generator:
    """Load a generator from our .safetensors format, an official network pickle, a bundled model's name
    ('default') or a preset name.

    A preset name builds that layout with random weights (seed 0); G.metadata says so.
    """
    path = Path(path_or_name)
    shown = escape(str(path), 300)
    try:
        exists = path.exists()
    except (OSError, ValueError):  # a name with a NUL byte, or one too long for the file system
        exists = False
    if not exists:
        name = str(path_or_name)
        if name in BUNDLED_MODELS:
            if not BUNDLED_MODELS[name].is_file():
                raise StyleGANError(f"the bundled model {escape(name)!r} is missing from this installation")
            return load_checkpoint(BUNDLED_MODELS[name], device=device)
        if name in PRESETS:
            G = create_generator(name)
            G.metadata = {"source": name, "source_format": "preset", "random_init": True}
            return G.requires_grad_(False).to(device)
        raise StyleGANError(
            f"{shown}: no such file, and not a bundled model ({', '.join(BUNDLED_MODELS)}) or a preset name "
            f"(presets: {', '.join(PRESETS)})"
        )
    if path.is_dir():
        raise StyleGANError(f"{shown}: is a directory; give the path of a .safetensors or .pkl file")
    kind = _sniff(path)
    if kind == "safetensors":
        return load_checkpoint(path, device=device)
    if kind == "pickle":
        return load_official_pickle(path).to(device)
    raise StyleGANError(
        f"{shown}: not a model file this program reads (expected .safetensors from `stylegan convert` / "
        "`stylegan.save`, or an official StyleGAN network .pkl)"
    )


def save(G: Generator, path: str | Path, **metadata) -> Path:
    """Write G as .safetensors with its config and `metadata` (JSON-serialisable); returns the path."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise StyleGANError(
            f"{escape(str(path), 300)}: model files are written as .safetensors; use that suffix"
        )
    try:
        return save_checkpoint(G, path, **metadata)
    except OSError as error:
        raise StyleGANError(
            f"{escape(str(path), 300)}: could not write the model ({escape(error.strerror or str(error))})"
        ) from None


def _sniff(path: Path) -> str | None:
    """The format by suffix, else by content. The suffix comes first: a safetensors file starts with its header's
    length, whose first byte can be 0x80 like a pickle's."""
    if path.suffix == ".safetensors":
        return "safetensors"
    if path.suffix in PICKLE_SUFFIXES:
        return "pickle"
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError as error:
        raise StyleGANError(
            f"{escape(str(path), 300)}: cannot be read ({escape(error.strerror or str(error))})"
        ) from None
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    if head[:1] == b"\x80":
        return "pickle"
    return None
