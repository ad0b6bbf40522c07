"""Trainer fixes: the path-length gain, early stopping under torchrun, resuming from the run folder alone,
--device errors, snapshot names below 1 kimg, and the Fréchet distance used without Inception weights."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from click.testing import CliRunner
from test_training import tiny_options
from tiny import make_zip, tiny_generator

import stylegan
import training.fid
from stylegan.errors import StyleGANError
from stylegan_cli import main
from training.dataset import ImageDataset
from training.fid import FIDTracker, frechet_distance
from training.loop import STATE_FILE, Trainer
from training.reporting import latest_snapshot

QUIET = dict(log=lambda _line: None)


@pytest.fixture(scope="module")
def run8(data16, tmp_path_factory):
    """Two steps of 4 images with a snapshot after each: both below 1 kimg."""
    outdir = tmp_path_factory.mktemp("run8")
    trainer = Trainer(tiny_options(data16, outdir, snap_ticks=1), **QUIET)
    return dict(trainer=trainer, snapshot=trainer.run(), outdir=outdir)


def test_path_length_penalty_is_scaled_by_its_interval(data16, tmp_path):
    """It runs every g_reg_interval steps, so its loss is multiplied by the interval (lazy regularisation)."""
    trainer = Trainer(tiny_options(data16, tmp_path, g_reg_interval=4, pl_weight=2.0), **QUIET)
    trainer.G.requires_grad_(True)  # as in the training phase
    z, c = torch.randn([2, 16]), torch.eye(3)[[0, 1]]
    loss, stats = trainer.loss.generator_path_length(z, c)
    assert loss.item() == pytest.approx(stats["Loss/G/path_length"] * 2.0 * 4, rel=1e-5)


def test_snapshots_below_one_kimg_do_not_collide(run8):
    outdir = run8["outdir"]
    snapshots = sorted(outdir.glob("network-snapshot-*.safetensors"))
    assert [path.name for path in snapshots] == [
        "network-snapshot-000000.004.safetensors",
        "network-snapshot-000000.008.safetensors",
    ]
    assert sorted(path.name for path in outdir.glob("fakes*.png")) == [
        "fakes000000.004.png",
        "fakes000000.008.png",
    ]
    assert run8["snapshot"] == snapshots[-1] == latest_snapshot(outdir)
    assert stylegan.load(snapshots[-1]).metadata["training"]["kimg"] == pytest.approx(0.008)


def test_latest_snapshot_orders_by_kimg_across_name_styles(tmp_path):
    for name in ("000001.safetensors", "000001.500.safetensors", "000000.250.safetensors"):
        (tmp_path / f"network-snapshot-{name}").touch()
    assert latest_snapshot(tmp_path).name == "network-snapshot-000001.500.safetensors"


def _cli_resume(run: Path, *extra: str):
    arguments = ["train", "--resume", str(run), "--workers", "0", "--tick", "0.004", "--snap", "1", *extra]
    return CliRunner().invoke(main, arguments)


def test_resume_needs_only_the_run_folder(run8, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run8["outdir"], run)
    result = _cli_resume(run, "--kimg", "0.012", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "resumed" in result.output and "network-snapshot-000000.012.safetensors" in result.output
    assert (run / "network-snapshot-000000.012.safetensors").is_file()  # outdir: the resumed folder
    assert json.loads((run / "training_options.json").read_text())["outdir"] == str(run)


def test_resume_takes_moved_data_of_the_same_shape_and_refuses_other_data(run8, data16, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run8["outdir"], run)
    moved = shutil.copy(data16, tmp_path / "moved.zip")
    result = _cli_resume(run, "--kimg", "0.008", "--data", str(moved), "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert json.loads((run / "training_options.json").read_text())["data"] == str(moved)

    other = make_zip(tmp_path / "data32.zip", 32)
    result = _cli_resume(run, "--kimg", "0.012", "--data", str(other), "--device", "cpu")
    assert result.exit_code == 2 and "error:" in result.output and "Traceback" not in result.output
    assert "32x32" in result.output and "16x16" in result.output
    fewer = make_zip(tmp_path / "two.zip", 16, classes=2)
    result = _cli_resume(run, "--kimg", "0.012", "--data", str(fewer), "--device", "cpu")
    assert result.exit_code == 2 and "2 classes" in result.output


def test_train_without_data_or_resume_is_one_error_line(tmp_path):
    result = CliRunner().invoke(main, ["train", "--outdir", str(tmp_path)])
    assert result.exit_code == 2 and "error:" in result.output and "--data" in result.output


def test_a_device_that_is_not_there_is_one_error_line(data16, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for device, message in (("cuda", "CUDA is not available"), ("gpu", "not a device")):
        arguments = ["train", "--data", str(data16), "--outdir", str(tmp_path / device), "--device", device]
        result = CliRunner().invoke(main, arguments)
        assert result.exit_code == 2, result.output
        assert "error:" in result.output and message in result.output and "Traceback" not in result.output


def test_frechet_distance_in_image_space_matches_sqrtm():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(12, 40)), rng.normal(1.0, 2.0, size=(9, 40))
    sigma_a, sigma_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(sigma_a @ sigma_b).real
    expected = np.square(a.mean(0) - b.mean(0)).sum() + np.trace(sigma_a + sigma_b - 2 * root)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_without_inception_weights_the_distance_is_in_pretrained_lite0_space(data16, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(training.fid, "local_weights", lambda _name: None)
    assert training.fid.default_fid_network() == "tf_efficientnet_lite0"
    dataset = ImageDataset(str(data16))
    tracker = FIDTracker(dataset, torch.device("cpu"), "tf_efficientnet_lite0", num_images=6)
    assert tracker.distance_name == "FD-lite0"
    distance = tracker.evaluate(tiny_generator(c_dim=3))
    assert 0 < distance < 1e4  # pretrained features: a sane scale (a random Inception gives ~1e24)
    assert tracker.history == [distance]
    monkeypatch.setattr(training.fid, "packaged_weights", lambda _name: None)
    with pytest.raises(StyleGANError, match="pretrained weights"):
        training.fid.default_fid_network()


@pytest.mark.slow  # two processes under torch.distributed: several seconds of start-up each
def test_early_stopping_reaches_every_process(data16, tmp_path):
    """With --glr 0 the generator does not change, so the second distance equals the first: patience 1 ends the
    stage there, at 0.008 of 0.016 kimg, and both processes must stop together."""
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    command = [
        torchrun, "--standalone", "--nproc_per_node", "2", str(Path(sys.executable).parent / "stylegan"), "train",
        "--data", str(data16), "--outdir", str(tmp_path), "--kimg", "0.016", "--batch", "4", "--cbase", "1024",
        "--cmax", "32", "--syn-layers", "4", "--z-dim", "16", "--w-dim", "32", "--backbones", "tf_efficientnet_lite0",
        "--no-pretrained", "--d-cout", "16", "--d-width-max", "32", "--workers", "0", "--tick", "0.004",
        "--snap", "1", "--device", "cpu", "--glr", "0", "--fid-images", "4", "--fid-patience", "1",
        "--fid-network", "tf_efficientnet_lite0",
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stage done" in result.stdout
    rows = [json.loads(line) for line in (tmp_path / "stats.jsonl").read_text().splitlines()]
    assert [row["kimg"] for row in rows] == pytest.approx([0.004, 0.008])
    assert rows[0]["FD-lite0"] == rows[1]["FD-lite0"]
    assert (tmp_path / STATE_FILE).is_file()


def test_a_resume_may_lower_the_learning_rates_and_keeps_them_otherwise(run8, data16, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run8["outdir"], run)
    saved = run8["trainer"].options
    ratio_G = saved.g_reg_interval / (saved.g_reg_interval + 1)  # noqa: N806 (lazy regularisation)
    ratio_D = saved.d_reg_interval / (saved.d_reg_interval + 1)  # noqa: N806

    def learning_rates(**given) -> tuple[float, float]:
        options = tiny_options(data16, run, **given)
        trainer = Trainer(options, resume=str(run), changed=["outdir", *given], **QUIET)
        return trainer.opt_G.param_groups[0]["lr"], trainer.opt_D.param_groups[0]["lr"]

    assert learning_rates() == pytest.approx((saved.glr * ratio_G, saved.dlr * ratio_D))
    assert learning_rates(glr=5e-4, dlr=4e-4) == pytest.approx((5e-4 * ratio_G, 4e-4 * ratio_D))

    result = _cli_resume(run, "--kimg", "0.012", "--glr", "0.0005", "--device", "cpu")
    assert result.exit_code == 0, result.output
    options = json.loads((run / "training_options.json").read_text())
    assert options["glr"] == 0.0005 and options["dlr"] == saved.dlr
