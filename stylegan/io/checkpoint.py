"""Our checkpoint format: one .safetensors file, weights plus a JSON config in its metadata. Nothing is pickled,
so loading never runs code from the file.

The header is read and checked here before the safetensors library sees the file: every tensor entry (type,
shape, place in the file), the format version, and the config and metadata JSON (depth, numbers, types). The
generator is built only after its config has been checked and the weights it implies have been counted against
the weights the file holds, so a few kilobytes of header cannot make the loader allocate gigabytes.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from stylegan.errors import StyleGANError
from stylegan.io.atomic import atomic_path
from stylegan.io.config import build_generator, check_config, load_weights, state_numel
from stylegan.io.untrusted import (
    BYTES_SLACK,
    MAX_NDIM,
    ContentError,
    check_class_names,
    escape,
    excerpt,
    parse_json,
)
from stylegan.networks.generator import Generator

FORMAT_NAME = "stylegan-studio"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 100_000_000  # the safetensors library's own limit
_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
_ENTRY_KEYS = {"dtype", "shape", "data_offsets"}


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


def _read_safetensors_header(
    path: Path,
) -> tuple[dict[str, str], dict[str, tuple[torch.dtype, tuple[int, ...]]]]:
    """The `__metadata__` strings and the tensor entries (dtype, shape) of a .safetensors file, checked: every
    entry must name a known dtype and a shape whose bytes fill exactly its place inside the file."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            f.seek(0)
            prefix = f.read(8)
            if len(prefix) < 8:
                raise ContentError("it is shorter than a safetensors header")
            (length,) = struct.unpack("<Q", prefix)
            if length > min(MAX_HEADER_BYTES, size - 8):
                raise ContentError(f"its header length ({length:,} bytes) is larger than the file")
            raw = f.read(length)
    except OSError as error:
        raise StyleGANError(
            f"{escape(str(path), 300)}: cannot be read ({escape(error.strerror or str(error))})"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ContentError("its header is not UTF-8 text") from None
    header = parse_json(text, "its header", max_depth=4)
    if type(header) is not dict:
        raise ContentError("its header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if type(metadata) is not dict or not all(type(v) is str for v in metadata.values()):
        raise ContentError("its __metadata__ is not a map of strings")
    body = size - 8 - length
    tensors = {}
    for name, entry in header.items():
        where = f"tensor {escape(name, 60)}"
        if type(entry) is not dict or set(entry) != _ENTRY_KEYS:
            raise ContentError(f"{where} has a malformed entry")
        dtype = _DTYPES.get(entry["dtype"]) if type(entry["dtype"]) is str else None
        if dtype is None:
            raise ContentError(f"{where} has the unsupported dtype {excerpt(entry['dtype'])}")
        shape, offsets = entry["shape"], entry["data_offsets"]
        if (
            type(shape) is not list
            or len(shape) > MAX_NDIM
            or not all(type(n) is int and n >= 0 for n in shape)
        ):
            raise ContentError(f"{where} has the malformed shape {excerpt(shape)}")
        if type(offsets) is not list or len(offsets) != 2 or not all(type(n) is int for n in offsets):
            raise ContentError(f"{where} has malformed data offsets {excerpt(offsets)}")
        begin, end = offsets
        claimed, numel = dtype.itemsize, 1
        for n in shape:
            claimed *= max(n, 1)
            numel *= n
        if not 0 <= begin <= end <= body or claimed > size + BYTES_SLACK:
            raise ContentError(f"{where} reaches past the end of the file")
        if end - begin != numel * dtype.itemsize:
            raise ContentError(f"{where}: its shape {excerpt(shape)} does not fill its {end - begin:,} bytes")
        tensors[name] = (dtype, tuple(shape))
    return metadata, tensors


def read_header(path: str | Path) -> dict:
    """The config and metadata of a checkpoint, and the dtype and shape of each of its tensors, without reading
    its weights. The config is decoded JSON, not yet checked (see `stylegan.io.config.check_config`)."""
    path = Path(path)
    shown = escape(str(path), 300)
    try:
        header, tensors = _read_safetensors_header(path)
    except ContentError as error:
        raise StyleGANError(f"{shown}: not a readable .safetensors file ({error})") from None
    if header.get("format") != FORMAT_NAME:
        raise StyleGANError(
            f"{shown}: this .safetensors file is not a {FORMAT_NAME} checkpoint (no generator config)"
        )
    version = header.get("format_version", "0")
    if not re.fullmatch(r"[0-9]{1,6}", version):
        raise StyleGANError(
            f"{shown}: the checkpoint's format version {excerpt(version)} is not a version number"
        )
    if int(version) > FORMAT_VERSION:
        raise StyleGANError(
            f"{shown}: checkpoint format {int(version)} is newer than this version supports "
            f"({FORMAT_VERSION}); update the package"
        )
    try:
        if "config" not in header:
            raise ContentError("there is no config")
        config = parse_json(header["config"], "the config")
        metadata = parse_json(header.get("metadata", "{}"), "the metadata")
        if type(metadata) is not dict:
            raise ContentError(f"the metadata is {excerpt(metadata)}, not a JSON object")
        _check_known_metadata(metadata)
    except ContentError as error:
        raise StyleGANError(f"{shown}: the checkpoint's header is damaged ({error})") from None
    return {"config": config, "metadata": metadata, "tensors": tensors}


def _check_known_metadata(metadata: dict[str, Any]) -> None:
    """The entries that the library, the CLI and the GUI read must have the types they expect."""
    if metadata.get("class_names") is not None:
        check_class_names(metadata["class_names"])
    for key in ("source", "source_format", "official_class"):
        if key in metadata and type(metadata[key]) is not str:
            raise ContentError(f"{key} is {excerpt(metadata[key])}, not text")


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Generator:
    """Rebuild the generator from its config and load its weights; G.metadata holds the saved metadata."""
    path = Path(path)
    shown = escape(str(path), 300)
    header = read_header(path)
    try:
        config = check_config(header["config"])
    except ContentError as error:
        raise StyleGANError(
            f"{shown}: the checkpoint's config does not describe a generator ({error})"
        ) from None
    expected = state_numel(config)
    held = sum(_numel(shape) for _, shape in header["tensors"].values())
    if expected != held:
        raise StyleGANError(
            f"{shown}: the weights do not match the config (it describes {expected:,} values, "
            f"the file holds {held:,})"
        )
    try:
        G = build_generator(config)
    except ContentError as error:
        raise StyleGANError(
            f"{shown}: the checkpoint's config does not describe a generator ({error})"
        ) from None
    try:
        state = safetensors.torch.load_file(str(path), device="cpu")
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # noqa: B036 (a Rust panic in the library arrives as a BaseException)
        raise StyleGANError(f"{shown}: the weights could not be read ({escape(str(error), 200)})") from None
    try:
        load_weights(G, state)
    except ContentError as error:
        raise StyleGANError(f"{shown}: the weights do not match the config ({error})") from None
    G.metadata = header["metadata"]
    return G.eval().requires_grad_(False).to(device)


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for n in shape:
        count *= n
    return count
