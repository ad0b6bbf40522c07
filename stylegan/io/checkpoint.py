"""Our checkpoint format: one .safetensors file, weights plus a JSON config in its metadata. Nothing is pickled,
so loading never runs code from the file."""

from __future__ import annotations

import json
from pathlib import Path

import safetensors
import safetensors.torch
import torch

from stylegan.errors import StyleGANError
from stylegan.io.atomic import atomic_path
from stylegan.networks.generator import Generator

FORMAT_NAME = "stylegan-studio"
FORMAT_VERSION = 1


def save_checkpoint(G: Generator, path: str | Path, **metadata) -> Path:
    """Write G to `path` (atomically: a crash leaves any previous file intact).

    `metadata` holds JSON-serialisable facts about the model (class_names, provenance, training facts, ...);
    it is merged over the metadata G was loaded with, if any.
    """
    path = Path(path)
    merged = {**G.metadata, **metadata}
    header = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "config": json.dumps(G.config),
        "metadata": json.dumps(merged),
    }
    tensors = {key: value.detach().to("cpu").contiguous().clone() for key, value in G.state_dict().items()}
    with atomic_path(path) as tmp_path:
        safetensors.torch.save_file(tensors, str(tmp_path), metadata=header)
    return path


def read_header(path: str | Path) -> dict:
    """The config and metadata of a checkpoint, without reading its weights."""
    path = Path(path)
    try:
        with safetensors.safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (OSError, safetensors.SafetensorError, ValueError) as error:
        raise StyleGANError(f"{path}: not a readable .safetensors file ({error})") from None
    if header.get("format") != FORMAT_NAME:
        raise StyleGANError(
            f"{path}: this .safetensors file is not a {FORMAT_NAME} checkpoint (no generator config)"
        )
    version = int(header.get("format_version", "0"))
    if version > FORMAT_VERSION:
        raise StyleGANError(
            f"{path}: checkpoint format {version} is newer than this version supports "
            f"({FORMAT_VERSION}); update the package"
        )
    try:
        return {"config": json.loads(header["config"]), "metadata": json.loads(header.get("metadata", "{}"))}
    except (KeyError, json.JSONDecodeError) as error:
        raise StyleGANError(f"{path}: the checkpoint's config is damaged ({error})") from None


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Generator:
    """Rebuild the generator from its config and load its weights; G.metadata holds the saved metadata."""
    path = Path(path)
    header = read_header(path)
    try:
        G = Generator(**header["config"])
    except (TypeError, ValueError) as error:
        raise StyleGANError(
            f"{path}: the checkpoint's config does not describe a generator ({error})"
        ) from None
    try:
        state = safetensors.torch.load_file(str(path), device="cpu")
    except (OSError, safetensors.SafetensorError, ValueError) as error:
        raise StyleGANError(f"{path}: the weights could not be read ({error})") from None
    try:
        G.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise StyleGANError(f"{path}: the weights do not match the config ({error})") from None
    G.metadata = header["metadata"]
    return G.eval().requires_grad_(False).to(device)
