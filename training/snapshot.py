"""The training state in one .safetensors file: G, G_ema, D, both optimisers, progress and options.

Tensors go in under prefixes (`G.`, `G_ema.`, `D.`, `opt_G.<param>.<key>`, `extra.`); everything else (the
configs, optimiser hyper-parameters, counters, the options) is JSON in the file's metadata. Nothing is pickled.
The file is written atomically, so a kill while saving leaves the previous state intact.
"""

from __future__ import annotations

import json
from pathlib import Path

import safetensors
import safetensors.torch
import torch

from stylegan.errors import StyleGANError
from stylegan.io.atomic import atomic_path

STATE_FORMAT = "stylegan-studio-training"
STATE_VERSION = 1


def _optimizer_tensors(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, entries in state["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"{name}.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _restore_optimizer(name: str, optimizer: torch.optim.Optimizer, tensors: dict, saved: dict) -> None:
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith(f"{name}."):
            index, entry = key[len(name) + 1 :].split(".", 1)
            state.setdefault(int(index), {})[entry] = value
    for key, value in saved["scalars"].items():
        index, entry = key.split(".", 1)
        state.setdefault(int(index), {})[entry] = value
    optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})


def save_training_state(
    path: str | Path,
    modules: dict[str, torch.nn.Module],  # G, G_ema, D
    optimizers: dict[str, torch.optim.Optimizer],  # opt_G, opt_D
    extra: dict[str, torch.Tensor],  # other tensors to carry over (the path-length mean, ...)
    info: dict,  # JSON: configs, progress, options
) -> Path:
    tensors = {}
    for name, module in modules.items():
        tensors.update({f"{name}.{key}": value for key, value in module.state_dict().items()})
    optimizer_info = {}
    for name, optimizer in optimizers.items():
        opt_tensors, optimizer_info[name] = _optimizer_tensors(name, optimizer)
        tensors.update(opt_tensors)
    tensors.update({f"extra.{key}": value for key, value in extra.items()})
    tensors = {key: value.detach().to("cpu").contiguous().clone() for key, value in tensors.items()}
    header = {
        "format": STATE_FORMAT,
        "format_version": str(STATE_VERSION),
        "info": json.dumps(info),
        "optimizers": json.dumps(optimizer_info),
    }
    with atomic_path(Path(path)) as tmp_path:
        safetensors.torch.save_file(tensors, str(tmp_path), metadata=header)
    return Path(path)


def read_training_info(path: str | Path) -> dict:
    """The JSON part of a training state (configs, progress, options), without reading the tensors."""
    path = Path(path)
    try:
        with safetensors.safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (OSError, safetensors.SafetensorError, ValueError) as error:
        raise StyleGANError(f"{path}: not a readable training state ({error})") from None
    if header.get("format") != STATE_FORMAT:
        raise StyleGANError(f"{path}: not a training state written by `stylegan train`")
    if int(header.get("format_version", "0")) > STATE_VERSION:
        raise StyleGANError(f"{path}: this training state is newer than this version supports; update")
    return json.loads(header["info"])


def load_training_state(
    path: str | Path,
    modules: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
) -> dict[str, torch.Tensor]:
    """Load modules and optimisers in place from `path`; return the extra tensors."""
    path = Path(path)
    read_training_info(path)
    try:
        tensors = safetensors.torch.load_file(str(path), device="cpu")
        with safetensors.safe_open(str(path), framework="pt") as f:
            optimizer_info = json.loads(f.metadata()["optimizers"])
    except (OSError, safetensors.SafetensorError, ValueError, KeyError) as error:
        raise StyleGANError(f"{path}: the training state could not be read ({error})") from None
    try:
        for name, module in modules.items():
            prefix = f"{name}."
            module.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})
        for name, optimizer in optimizers.items():
            _restore_optimizer(name, optimizer, tensors, optimizer_info[name])
    except (RuntimeError, ValueError, KeyError) as error:
        raise StyleGANError(f"{path}: the training state does not match these networks ({error})") from None
    return {k[len("extra.") :]: v for k, v in tensors.items() if k.startswith("extra.")}
