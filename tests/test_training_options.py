"""Trainer options: bad values are refused with the option and its range before anything is built, in Python
and on the command line; `stylegan train` keeps its documented flags and defaults; its options are made from the
dataclass, so a new field appears as an option by itself."""

import ast
import dataclasses
import inspect
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
import torch
from click.testing import CliRunner
from test_training import tiny_options
from tiny import make_zip

from stylegan.errors import StyleGANError
from stylegan.networks.specs import stem_specs
from stylegan_cli import main
from stylegan_cli.train import dataclass_options, dataclass_values, train
from training.discriminator import DEFAULT_BACKBONES, ProjectedDiscriminator
from training.feature_networks import INPUT_SIZE
from training.fid import DISTANCE_NAMES
from training.loop import Trainer, _last_channels
from training.options import CRITICAL_LAYERS, TrainingOptions

README = Path(__file__).resolve().parents[1] / "README.md"
QUIET = dict(log=lambda _line: None)

# Every option of `stylegan train` and the default its --help shows (None: none shown), as before the options
# were made from the dataclass.
DOCUMENTED_DEFAULTS = {
    "--data": None, "--outdir": None, "--kimg": "1000", "--batch": "32", "--batch-gpu": None, "--cond": None,
    "--mirror": None, "--seed": "0", "--cbase": "32768", "--cmax": "512", "--syn-layers": "10", "--z-dim": "64",
    "--w-dim": "512", "--superres": None, "--stem": None, "--head-layers": "7", "--up-factor": "2",
    "--backbones": "tf_efficientnet_lite0,deit_base_distilled_patch16_224", "--no-pretrained": None,
    "--d-width-max": None, "--d-cout": "64", "--d-input-size": "224", "--blur-fade-kimg": "200",
    "--glr": "0.0025", "--dlr": "0.002", "--cls-weight": None, "--pl-weight": None, "--no-amp": None,
    "--workers": "2", "--tick": "4", "--snap": "50", "--fid-images": "0", "--fid-patience": "3",
    "--fid-network": None, "--resume": None, "--device": None,
}  # fmt: skip


def options(**overrides) -> TrainingOptions:
    return TrainingOptions(**{"data": "data.zip", "outdir": "run", **overrides})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(syn_layers=2), "--syn-layers 2: must be at least 3"),
        (dict(head_layers=1), "--head-layers 1: must be at least 3"),
        (dict(up_factor=3), "--up-factor 3: must be one of 2, 4, 8, 16"),
        (dict(cbase=0), "--cbase 0: must be at least 1"),
        (dict(cmax=0), "--cmax 0: must be at least 1"),
        (dict(batch=0), "--batch 0: must be at least 1"),
        (dict(batch=8, batch_gpu=3), "--batch-gpu 3 must divide --batch 8"),
        (dict(batch=8, batch_gpu=16), "--batch-gpu 16 must divide --batch 8"),
        (dict(seed=-1), "--seed -1: must be from 0 to 4294967295"),
        (dict(tick_kimg=0.0), "--tick 0.0: must be more than 0"),
        (dict(snap_ticks=0), "--snap 0: must be at least 1"),
        (dict(glr=-0.1), "--glr -0.1: must be at least 0"),
        (dict(g_reg_interval=0), "--g-reg-interval 0: must be at least 1"),
        (dict(backbones=["tf_efficientnet_lite0"], d_input_size=32), "--d-input-size 32: must be from 64 to 2048"),
        (dict(backbones=["tf_efficientnet_lite0"], d_input_size=100), "--d-input-size 100: must be a multiple of 32 \\(try 96 or 128\\)"),
        (dict(d_input_size=128), "--d-input-size 128: deit_base_distilled_patch16_224 takes exactly 224"),
        (dict(backbones=[]), "--backbones: name at least one"),
        (dict(fid_images=1), "--fid-images 1: a Fréchet distance needs at least 2 images"),
        (dict(fid_network="vgg16"), "--fid-network vgg16: must be one of inception_v3, tf_efficientnet_lite0"),
    ],
)  # fmt: skip
def test_bad_options_are_refused_naming_the_option_and_its_range(overrides, message):
    with pytest.raises(StyleGANError, match=message):
        options(**overrides)


def test_options_changed_after_they_were_made_are_checked_by_the_trainer(tmp_path):
    changed = options(outdir=str(tmp_path))
    changed.syn_layers = 2
    with pytest.raises(StyleGANError, match="--syn-layers 2"):
        Trainer(changed, **QUIET)


def test_the_working_options_of_the_tests_and_the_readme_are_accepted():
    options(batch=8, batch_gpu=2, up_factor=16, head_layers=3, syn_layers=3, seed=2**32 - 1, fid_images=2)
    options(backbones=["tf_efficientnet_lite0"], d_input_size=64)
    options(backbones=["tf_efficientnet_lite0"], d_input_size=2048)
    options(glr=0.0, cls_weight=0.0, cond=False)


def test_a_cbase_too_small_for_the_images_is_refused_before_anything_is_built(tmp_path, monkeypatch):
    data = make_zip(tmp_path / "data16.zip", 16, per_class=1)
    monkeypatch.setattr("training.loop.Generator", None)  # building anything would fail differently
    monkeypatch.setattr("training.loop.ProjectedDiscriminator", None)
    with pytest.raises(StyleGANError, match="--cbase 8: must be at least 9 for 16x16 images"):
        Trainer(tiny_options(data, tmp_path / "run", cbase=8), **QUIET)


@pytest.mark.parametrize(
    ("channel_base", "resolution"), [(8, 16), (9, 16), (16, 32), (17, 32), (40, 64), (1024, 16)]
)
def test_the_cbase_check_counts_channels_as_the_layer_specs_do(channel_base, resolution):
    _, layers = stem_specs(resolution, channel_base=channel_base, channel_max=512, num_layers=4)
    assert _last_channels(channel_base, resolution) == layers[-2].out_channels  # the layer before ToRGB


@pytest.mark.parametrize("size", [96, 160])
def test_accepted_input_sizes_that_are_not_powers_of_two_run_the_discriminator(size):
    options(backbones=["tf_efficientnet_lite0"], d_input_size=size)
    D = ProjectedDiscriminator(
        c_dim=0,
        backbones=["tf_efficientnet_lite0"],
        pretrained=False,
        cout=8,
        head_width_max=16,
        input_size=size,
    )
    logits = D(torch.rand(2, 3, 16, 16) * 2 - 1)
    assert torch.isfinite(logits[0]).all()


def test_the_options_defaults_are_the_trainers_and_the_specs():
    defaults = options()
    assert defaults.backbones == list(DEFAULT_BACKBONES)
    assert defaults.d_input_size == INPUT_SIZE
    fid_network = next(f for f in dataclasses.fields(TrainingOptions) if f.name == "fid_network")
    assert fid_network.metadata["choices"] == tuple(DISTANCE_NAMES)
    assert inspect.signature(stem_specs).parameters["num_critical"].default == CRITICAL_LAYERS


def test_the_options_module_imports_no_torch():
    """Only the standard library and the project's error type, so the command line checks options cheaply."""
    tree = ast.parse((Path(__file__).resolve().parents[1] / "training" / "options.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "dataclasses", "stylegan.errors"}, imported


# -- the command line ------------------------------------------------------------------------------------------


def test_the_command_refuses_a_bad_range_in_one_line_without_building(tmp_path, monkeypatch):
    """The old failure of --syn-layers 2 was 'cannot convert float NaN to integer' deep in the layer specs."""
    monkeypatch.setitem(sys.modules, "training.loop", None)  # the trainer is never imported
    arguments = ["train", "--data", str(tmp_path / "d.zip"), "--outdir", str(tmp_path / "o")]
    result = CliRunner().invoke(main, [*arguments, "--syn-layers", "2"])
    assert result.exit_code == 2 and "--syn-layers" in result.output and "x>=3" in result.output
    assert "NaN" not in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, [*arguments, "--batch", "8", "--batch-gpu", "3"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == "error: --batch-gpu 3 must divide --batch 8"
    result = CliRunner().invoke(
        main, [*arguments, "--backbones", "tf_efficientnet_lite0", "--d-input-size", "100"]
    )
    assert result.exit_code == 2 and result.output.startswith(
        "error: --d-input-size 100: must be a multiple of 32"
    )


def _help_records() -> dict[str, str]:
    """Each option's first flag -> its help text as --help shows it, unwrapped."""
    context = click.Context(train)
    records = {}
    for param in train.params:
        record = param.get_help_record(context)
        if record is not None:
            records[param.opts[0]] = record[1]
    return records


def _shown_default(help_text: str) -> str | None:
    found = re.search(r"\[default: ([^;\]]+)", help_text)
    return found.group(1) if found else None


def test_the_command_keeps_every_flag_and_default():
    records = _help_records()
    assert list(records) == list(DOCUMENTED_DEFAULTS)
    assert {
        flag: _shown_default(text) for flag, text in records.items() if flag != "--help"
    } == DOCUMENTED_DEFAULTS
    assert records["--cond"] == "Class-conditional (default: when the dataset has labels)."
    assert records["--tick"] == "kimg per status line.  [default: 4; x>0]"
    assert records["--no-amp"] == "Run the discriminator in float32 on CUDA."


def _readme_train_flags() -> set[str]:
    """The flags the README's `stylegan train` section uses: in its prose and in its `stylegan train` commands."""
    text = README.read_text()
    section = text.split("### `stylegan train`", 1)[1]
    section = re.split(r"\n##+ ", section, maxsplit=1)[0]
    parts = section.split("```")
    prose, code = parts[0::2], parts[1::2]
    commands = [
        line
        for block in code
        for line in block.replace("\\\n", " ").splitlines()
        if line.strip().startswith("stylegan train")
    ]
    # Inline code of other commands (`tensorboard --logdir runs`) is not about this one.
    ours = lambda span: span.group(0) if span.group(1).startswith(("--", "stylegan train")) else " "  # noqa: E731
    prose = [re.sub(r"`([^`]*)`", ours, chunk) for chunk in prose]
    pattern = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
    return {flag for chunk in [*prose, *commands] for flag in pattern.findall(chunk)}


def test_the_flags_the_readme_documents_are_all_there():
    flags = _readme_train_flags()
    assert {"--superres", "--resume", "--d-input-size", "--no-pretrained", "--fid-patience"} <= flags
    help_text = CliRunner().invoke(main, ["train", "--help"], terminal_width=200).output
    missing = [flag for flag in flags if not re.search(rf"(?<![\w-]){flag}(?![\w-])", help_text)]
    assert missing == []
    records = _help_records()
    assert "[default: 224" in records["--d-input-size"]  # "224, as the official code"
    assert "tf_efficientnet_lite0,deit_base_distilled_patch16_224" in records["--backbones"]
    assert _shown_default(records["--glr"]) == "0.0025" and _shown_default(records["--dlr"]) == "0.002"
    assert _shown_default(records["--blur-fade-kimg"]) == "200"


# -- options made from a dataclass ------------------------------------------------------------------------------


@dataclass
class Toy:
    steps: int = field(default=3, metadata=dict(min=1, help="Steps to take."))
    rate: float = field(default=0.5, metadata=dict(flag="--lr", min=0, max=1))
    names: list[str] = field(
        default_factory=lambda: ["a", "b"], metadata=dict(help="Names, comma-separated.")
    )
    fast: bool = field(default=True, metadata=dict(flag="--slow", help="Go slowly."))
    color: bool = field(default=True)  # spelled --no-color
    mode: str | None = field(default=None, metadata=dict(choices=("x", "y")))
    hidden: int = field(default=0, metadata=dict(cli=False))


def _toy_command():
    received = {}

    @click.command()
    @dataclass_options(Toy)
    def command(**arguments):
        received.update(dataclass_values(Toy, arguments))

    return command, received


def test_a_dataclass_becomes_options_with_its_help_bounds_and_spellings():
    command, received = _toy_command()
    help_text = CliRunner().invoke(command, ["--help"], terminal_width=200).output
    assert re.search(r"--steps INTEGER RANGE +Steps to take\.  \[default: 3; x>=1\]", help_text)
    assert re.search(r"--lr FLOAT RANGE +\[default: 0\.5; 0<=x<=1\]", help_text)
    assert re.search(r"--names TEXT +Names, comma-separated\.  \[default: a,b\]", help_text)
    assert re.search(r"--slow +Go slowly\.", help_text) and "--mode [x|y]" in help_text
    assert "--hidden" not in help_text
    assert re.search(r"--no-color\n", help_text)
    arguments = ["--steps", "5", "--lr", "0.25", "--names", "p, q,", "--slow", "--no-color"]
    result = CliRunner().invoke(command, arguments)
    assert result.exit_code == 0, result.output
    assert Toy(**received) == Toy(steps=5, rate=0.25, names=["p", "q"], fast=False, color=False)
    received.clear()
    assert CliRunner().invoke(command, []).exit_code == 0 and Toy(**received) == Toy()
    result = CliRunner().invoke(command, ["--lr", "2"])
    assert result.exit_code == 2 and "0<=x<=1" in result.output


def test_a_new_training_option_appears_on_the_command_by_itself():
    @dataclass
    class MoreOptions(TrainingOptions):
        r1_gamma: float = field(default=1.0, metadata=dict(min=0, help="R1 weight."))

    @click.command()
    @dataclass_options(MoreOptions)
    def command(**arguments):
        click.echo(repr(MoreOptions(**dataclass_values(MoreOptions, arguments))))

    help_text = CliRunner().invoke(command, ["--help"], terminal_width=200).output
    assert re.search(r"--r1-gamma FLOAT RANGE +R1 weight\.  \[default: 1; x>=0\]", help_text)
    assert "--syn-layers" in help_text and "--tick" in help_text
    result = CliRunner().invoke(command, ["--data", "d.zip", "--outdir", "o", "--r1-gamma", "10", "--no-amp"])
    assert result.exit_code == 0, result.output
    assert "r1_gamma=10.0" in result.output and "amp=False" in result.output
    result = CliRunner().invoke(command, ["--data", "d.zip", "--outdir", "o", "--r1-gamma", "-1"])
    assert result.exit_code == 2 and "x>=0" in result.output
