"""`stylegan train`: a stem or its next stage.

Its options are made from the fields of `training.options.TrainingOptions` (help, spelling, bounds in each
field's metadata) by `dataclass_options`, and read back into the dataclass by `dataclass_values`; only
--superres and --resume belong to the command alone.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from pathlib import Path

import click

from stylegan.errors import StyleGANError
from training.options import TrainingOptions, spelling


def _field_type(hint) -> type:
    """int | None -> int; list[str] -> list."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return typing.get_origin(hint) or hint


def _default(option: dataclasses.Field):
    if option.default is not dataclasses.MISSING:
        return option.default
    if option.default_factory is not dataclasses.MISSING:
        return option.default_factory()
    return None  # required in Python, optional on the command line (the command decides)


def _inverted(option: dataclasses.Field, kind: type) -> bool:
    """A boolean that defaults to True and has one flag (--no-amp), which turns it off."""
    return kind is bool and option.default is True and "/" not in spelling(option)


def _param_type(option: dataclasses.Field, kind: type):
    metadata = option.metadata
    if "choices" in metadata:
        return click.Choice(metadata["choices"])
    if metadata.get("path"):
        return click.Path()
    if kind in (int, float) and ("min" in metadata or "max" in metadata):
        bounds = click.IntRange if kind is int else click.FloatRange
        return bounds(
            min=metadata.get("min"), max=metadata.get("max"), min_open=metadata.get("min_open", False)
        )
    return None if kind in (str, list) else kind


def _click_option(option: dataclasses.Field, kind: type) -> Callable:
    metadata = option.metadata
    flag = spelling(option)
    default = _default(option)
    if kind is bool:
        if "/" in flag:  # --cond/--no-cond: on, off, or the field's default
            return click.option(flag, option.name, default=default, help=metadata.get("help"))
        return click.option(flag, option.name, is_flag=True, help=metadata.get("help"))
    if kind is list:
        default = ",".join(default)
    elif isinstance(default, float) and default.is_integer():
        default = int(default)  # shown as 1000, not 1000.0; the float type still gives 1000.0
    return click.option(
        flag,
        option.name,
        type=_param_type(option, kind),
        default=default,
        show_default=default is not None,
        help=metadata.get("help"),
    )


def dataclass_options(cls: type, extra: dict[str, list[Callable]] | None = None) -> Callable:
    """A decorator giving a click command one option per field of the dataclass `cls`, in field order, except
    the fields marked cli=False. `extra` places command-only options (click.option decorators) before the
    named field."""
    hints = typing.get_type_hints(cls)
    decorators = []
    for option in dataclasses.fields(cls):
        decorators.extend((extra or {}).get(option.name, []))
        if option.metadata.get("cli", True):
            decorators.append(_click_option(option, _field_type(hints[option.name])))

    def decorate(function: Callable) -> Callable:
        # The last decorator applied is the first option click lists.
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return decorate


def dataclass_values(cls: type, arguments: dict) -> dict:
    """The keyword arguments of `cls` from a command's arguments: comma-separated lists split, inverted flags
    turned back, command-only arguments left out."""
    hints = typing.get_type_hints(cls)
    values = {}
    for option in dataclasses.fields(cls):
        if option.name not in arguments:
            continue
        value, kind = arguments[option.name], _field_type(hints[option.name])
        if kind is list:
            value = [item.strip() for item in value.split(",") if item.strip()]
        elif _inverted(option, kind):
            value = not value
        values[option.name] = value
    return values


_superres = click.option(
    "--superres", is_flag=True, help="Train the next stage of --stem: grow it, train only the new head."
)
_resume = click.option(
    "--resume", type=click.Path(path_type=Path), help="Continue the run in this folder (or state file)."
)


@click.command()
@dataclass_options(TrainingOptions, extra={"stem": [_superres], "device": [_resume]})
def train(superres: bool, resume: Path | None, **arguments):
    """Train a StyleGAN-XL stem, or (--superres --stem) its next stage. Run under torchrun for several GPUs."""
    values = dataclass_values(TrainingOptions, arguments)
    if superres != (values["stem"] is not None):
        raise StyleGANError("--superres and --stem go together: --superres --stem STEM.safetensors")
    if resume is None and (values["data"] is None or values["outdir"] is None):
        raise StyleGANError("a new run needs --data and --outdir (or continue one with --resume RUN)")
    if values["outdir"] is None:
        values["outdir"] = str(resume if resume.is_dir() else resume.parent)
    options = TrainingOptions(**values)  # checked here, before the trainer is even imported

    import torch

    from training.loop import Trainer

    context = click.get_current_context()
    typed = [
        name
        for name in values
        if context.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
    ]
    # A resumed run keeps its own length and bookkeeping unless told otherwise; its folder and the device are
    # where it runs now.
    typed += ["outdir", "device"]
    trainer = Trainer(options, log=click.echo, resume=None if resume is None else str(resume), changed=typed)
    snapshot = trainer.run()
    if torch.distributed.is_initialized():
        # Under torchrun: left to interpreter exit, gloo's threads can abort the process after a finished run.
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    click.echo(f"done: {snapshot}")
