"""The training loop on tiny generated datasets with random feature networks: steps change the generator,
growth trains only the new head, resume is exact, a NaN stops the run, a 2-process gloo run works."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from click.testing import CliRunner
from tiny import make_zip

import stylegan
from stylegan.errors import StyleGANError
from stylegan_cli import main
from training.loop import STATE_FILE, Trainer, TrainingDivergedError
from training.options import TrainingOptions


def tiny_options(data: Path, outdir: Path, **overrides) -> TrainingOptions:
    options = dict(
        data=str(data),
        outdir=str(outdir),
        kimg=0.008,  # two steps of 4
        batch=4,
        batch_gpu=2,
        cbase=1024,
        cmax=32,
        syn_layers=4,
        z_dim=16,
        w_dim=32,
        backbones=["tf_efficientnet_lite0"],
        pretrained=False,
        d_cout=16,
        d_width_max=32,
        workers=0,
        tick_kimg=0.004,
        snap_ticks=2,
        pl_start_kimg=0.004,
        g_reg_interval=1,
        device="cpu",
    )
    options.update(overrides)
    return TrainingOptions(**options)


@pytest.fixture(scope="module")
def data32(tmp_path_factory):
    return make_zip(tmp_path_factory.mktemp("data") / "data32.zip", 32)


@pytest.fixture(scope="module")
def stem_run(data16, tmp_path_factory):
    """A stem trained for two steps: (trainer before, trainer after, run folder)."""
    outdir = tmp_path_factory.mktemp("stem")
    trainer = Trainer(tiny_options(data16, outdir), log=lambda _line: None)
    before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    before_features = {k: v.clone() for k, v in trainer.D.feature_networks.state_dict().items()}
    snapshot = trainer.run()
    return dict(
        trainer=trainer, before=before, before_features=before_features, snapshot=snapshot, outdir=outdir
    )


def test_training_steps_change_the_generator_and_write_outputs(stem_run):
    trainer, outdir = stem_run["trainer"], stem_run["outdir"]
    after = trainer.G.state_dict()
    changed = [k for k, v in stem_run["before"].items() if not torch.equal(v, after[k])]
    assert any(k.startswith("synthesis.") for k in changed) and any(
        k.startswith("mapping.fc") for k in changed
    )
    assert "mapping.embed.weight" in changed  # the class embedding trains too
    features = trainer.D.feature_networks.state_dict()
    assert all(torch.equal(v, features[k]) for k, v in stem_run["before_features"].items())
    assert trainer.progress.cur_nimg == 8 and trainer.progress.batch_idx == 2
    for name in ("reals.png", "fakes000000.008.png", "stats.jsonl", STATE_FILE, "training_options.json"):
        assert (outdir / name).is_file(), name
    assert list(outdir.glob("events.out.tfevents.*"))
    rows = [json.loads(line) for line in (outdir / "stats.jsonl").read_text().splitlines()]
    assert [row["tick"] for row in rows] == [1, 2]
    assert all(np.isfinite(row["Loss/G/loss"]) and np.isfinite(row["Loss/D/loss"]) for row in rows)
    assert "Loss/G/path_length" in rows[1]
    # The snapshot is a normal model file: it loads, keeps the class names and renders.
    G = stylegan.load(stem_run["snapshot"])
    assert G.metadata["class_names"] == ["class0", "class1", "class2"]
    assert G.metadata["training"]["kimg"] == pytest.approx(0.008)
    assert torch.isfinite(G(torch.randn(1, G.z_dim), torch.eye(3)[[1]])).all()


def test_class_embeddings_start_from_the_datasets_features(data16, tmp_path):
    trainer = Trainer(tiny_options(data16, tmp_path), log=lambda _line: None)
    embed = trainer.G.mapping.embed.weight
    head_embed = trainer.D.heads["tf_efficientnet_lite0"][0].embed.weight
    assert torch.equal(embed, head_embed)
    assert not torch.allclose(embed[0], embed[1])  # classes of different colours get different embeddings


def test_growth_trains_only_the_head(stem_run, data32, tmp_path):
    options = tiny_options(data32, tmp_path, stem=str(stem_run["snapshot"]), head_layers=3, cls_weight=1.0)
    trainer = Trainer(options, log=lambda _line: None)
    G = trainer.G
    assert G.img_resolution == 32
    head_names = set(G.synthesis.head_layer_names)
    before = {k: v.clone() for k, v in G.named_parameters()}
    trainer.run()
    after = dict(G.named_parameters())
    for key, value in before.items():
        in_head = key.split(".")[1] in head_names if key.startswith("synthesis.") else False
        assert torch.equal(value, after[key]) != in_head, key  # head layers changed, everything else did not
    grown = stylegan.load(next(tmp_path.glob("network-snapshot-*.safetensors")))
    assert grown.img_resolution == 32


def test_growth_checks_the_stem_against_the_data(stem_run, data16, tmp_path):
    with pytest.raises(StyleGANError, match="next stage is 32x32"):
        Trainer(tiny_options(data16, tmp_path, stem=str(stem_run["snapshot"])), log=lambda _line: None)


def test_resume_is_exact(data16, stem_run, tmp_path):
    """Two steps in one go (the stem run) and one + one with a resume give the same state, bit for bit."""
    first = Trainer(tiny_options(data16, tmp_path, kimg=0.004, snap_ticks=1), log=lambda _line: None)
    first.run()
    resumed = Trainer(
        tiny_options(data16, tmp_path, kimg=0.008), log=lambda _line: None, resume=str(tmp_path)
    )
    assert resumed.progress.cur_nimg == 4
    resumed.run()
    straight = safetensors.torch.load_file(str(stem_run["outdir"] / STATE_FILE))
    continued = safetensors.torch.load_file(str(tmp_path / STATE_FILE))
    assert straight.keys() == continued.keys()
    different = [k for k in straight if not torch.equal(straight[k], continued[k])]
    assert different == []


def test_a_run_folder_is_not_overwritten_without_resume(stem_run, data16):
    with pytest.raises(StyleGANError, match="already holds a run"):
        Trainer(tiny_options(data16, stem_run["outdir"]), log=lambda _line: None)


def test_a_nan_stops_the_run_and_keeps_the_last_snapshot(data16, tmp_path, monkeypatch):
    trainer = Trainer(tiny_options(data16, tmp_path, kimg=0.016, snap_ticks=1), log=lambda _line: None)
    original = trainer.loss.discriminator_main

    def poisoned(*args, **kwargs):
        loss, stats = original(*args, **kwargs)
        return (loss * float("nan") if trainer.progress.batch_idx >= 2 else loss), stats

    monkeypatch.setattr(trainer.loss, "discriminator_main", poisoned)
    with pytest.raises(TrainingDivergedError, match="nan.*last good snapshot is .*network-snapshot"):
        trainer.run()
    kept = safetensors.torch.load_file(str(tmp_path / STATE_FILE))
    assert kept  # the state of the last snapshot (after 2 steps) is intact
    assert (
        json.loads(safetensors.safe_open(str(tmp_path / STATE_FILE), "pt").metadata()["info"])["progress"][
            "batch_idx"
        ]
        == 2
    )


def test_the_train_command_reports_bad_input_in_one_line(data16, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        main, ["train", "--data", str(tmp_path / "missing"), "--outdir", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "error:" in result.output and "Traceback" not in result.output
    result = runner.invoke(
        main, ["train", "--data", str(data16), "--outdir", str(tmp_path / "o"), "--superres"]
    )
    assert result.exit_code == 2 and "--stem" in result.output
    result = runner.invoke(
        main, ["train", "--data", str(data16), "--outdir", str(tmp_path / "o"), "--resume", str(tmp_path)]
    )
    assert result.exit_code == 2 and "no training state" in result.output


@pytest.mark.slow  # two processes under torch.distributed: several seconds of start-up each
def test_two_process_gloo_run(data16, tmp_path):
    """torchrun with two CPU processes: gradients are averaged, rank 0 writes the outputs."""
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    command = [
        torchrun, "--standalone", "--nproc_per_node", "2", str(Path(sys.executable).parent / "stylegan"), "train",
        "--data", str(data16), "--outdir", str(tmp_path), "--kimg", "0.008", "--batch", "4", "--cbase", "1024",
        "--cmax", "32", "--syn-layers", "4", "--z-dim", "16", "--w-dim", "32", "--backbones", "tf_efficientnet_lite0",
        "--no-pretrained", "--d-cout", "16", "--d-width-max", "32", "--workers", "0", "--tick", "0.004",
        "--snap", "2", "--device", "cpu",
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 processes" in result.stdout
    assert (tmp_path / STATE_FILE).is_file()
    assert len((tmp_path / "stats.jsonl").read_text().splitlines()) == 2  # one writer


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_training_steps_on_cuda_with_mixed_precision(data16, tmp_path):
    trainer = Trainer(tiny_options(data16, tmp_path, device="cuda", amp=True), log=lambda _line: None)
    before = [p.clone() for p in trainer.G.parameters()]
    trainer.run()
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.G.parameters(), strict=True))
    rows = [json.loads(line) for line in (tmp_path / "stats.jsonl").read_text().splitlines()]
    assert all(np.isfinite(row["Loss/D/loss"]) for row in rows)
