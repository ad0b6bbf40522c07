"""Interrupted work, with real signals to real processes: Ctrl-C (SIGINT) in `generate`, `video` and `invert`
leaves only complete files, and SIGKILL at random moments of `stylegan train` never corrupts the latest
snapshot or training state, and the run resumed after each kill ends exactly where an uninterrupted run ends.

Each case starts the command line as a subprocess (a few seconds of imports), so the tests are `slow`.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import PIL.Image
import pytest
import safetensors.torch
import torch
from tiny import make_zip, tiny_generator

import stylegan
from training.loop import STATE_FILE

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))


def _default_sigint() -> None:
    """Run in the child before it starts: a shell without job control starts background jobs with SIGINT
    ignored, the child inherits that, and Python then installs no KeyboardInterrupt handler at all."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "stylegan_cli", *args], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=_default_sigint)  # fmt: skip


def _wait_for(condition, process: subprocess.Popen, seconds: float = 120) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline and process.poll() is None:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _ctrl_c(process: subprocess.Popen, ready, moment: float) -> str:
    """Press Ctrl-C `moment` seconds after `ready()` holds; the output of a process that stopped as interrupted
    (exit code 130), with one message and no traceback."""
    assert _wait_for(ready, process), process.communicate()[0]
    time.sleep(moment)
    process.send_signal(signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()  # not left running after the test
        raise
    assert process.returncode == 130, output
    assert "Traceback" not in output
    return output


def _no_temporaries(folder: Path) -> None:
    leftovers = [path.name for path in folder.rglob("*") if path.name.endswith(".tmp")]
    assert not leftovers, leftovers


def _complete_png(path: Path) -> None:
    with PIL.Image.open(path) as image:
        image.load()


def _complete_mp4(path: Path, frames: int) -> None:
    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == frames


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    G = tiny_generator("stylegan-xl", c_dim=3)
    return str(stylegan.save(G, tmp_path_factory.mktemp("model") / "tiny.safetensors"))


# Ctrl-C ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("moment", [0.0, 0.3, 0.9])  # seconds after the first image is written
def test_ctrl_c_in_generate_leaves_only_complete_images(model, tmp_path, moment):
    outdir = tmp_path / "out"
    process = _start("generate", "-n", model, "--seeds", "0-2999", "--outdir", str(outdir), cwd=tmp_path)
    # The first image, renamed from its temporary file: waiting for any file, a Ctrl-C at moment 0 could land
    # while that first temporary file is written, and leave (rightly) no image at all.
    output = _ctrl_c(process, lambda: outdir.exists() and any(outdir.glob("*.png")), moment)
    assert "interrupted" in output
    _no_temporaries(outdir)
    images = sorted(outdir.glob("*.png"))
    assert 0 < len(images) < 3000
    for path in images:
        _complete_png(path)


@pytest.mark.parametrize("moment", [0.2, 1.0])  # seconds after the command starts rendering
def test_ctrl_c_in_video_leaves_no_video_and_keeps_the_old_one(model, tmp_path, moment):
    out = tmp_path / "walk.mp4"
    done = _start("video", "-n", model, "--seeds", "0,1", "--frames-per-transition", "4", "--out", str(out),
                  cwd=tmp_path)  # fmt: skip
    assert done.wait(timeout=120) == 0, done.communicate()[0]
    _complete_mp4(out, 5)
    before = out.read_bytes()
    process = _start("video", "-n", model, "--seeds", "0-99", "--frames-per-transition", "60", "--out", str(out),
                     cwd=tmp_path)  # fmt: skip
    started = lambda: any(path.name.endswith(".tmp") for path in tmp_path.iterdir())  # noqa: E731
    _ctrl_c(process, started, moment)
    _no_temporaries(tmp_path)
    assert out.read_bytes() == before


@pytest.mark.parametrize("moment", [0.0, 6.0])  # seconds after the video opens: set-up, then steps
def test_ctrl_c_in_invert_writes_the_best_result_so_far_whole(model, tmp_path, moment):
    G = stylegan.load(model)
    target = tmp_path / "target.png"
    with torch.no_grad():
        pixels = G(torch.randn([1, G.z_dim]), torch.eye(G.c_dim)[:1])
    PIL.Image.fromarray(stylegan.images.to_uint8(pixels)[0]).save(target)
    outdir = tmp_path / "out"
    process = _start("invert", "-n", model, "--target", str(target), "--class", "0", "--steps", "100000",
                     "--outdir", str(outdir), cwd=tmp_path)  # fmt: skip
    # The optimisation video is the first file it opens (under a temporary name), right before the first step.
    output = _ctrl_c(process, lambda: outdir.exists() and any(outdir.iterdir()), moment)
    _no_temporaries(outdir)
    if not (outdir / "metrics.json").exists():  # stopped before the first step: nothing at all is written
        assert moment == 0.0 and "nothing partial was written" in output and not list(outdir.iterdir())
        return
    metrics = json.loads((outdir / "metrics.json").read_text())
    assert metrics["interrupted"] and 0 < metrics["steps"] < 100000
    _complete_png(outdir / "proj.png")
    with np.load(outdir / "projected_w.npz") as latent:
        assert latent["w"].shape == (1, G.num_ws, G.w_dim)
    if (outdir / "proj.mp4").exists():
        with av.open(str(outdir / "proj.mp4")) as container:
            assert sum(1 for _ in container.decode(video=0)) > 0


# SIGKILL during training ----------------------------------------------------------------------------------

KIMG = "0.08"  # 20 steps of 4 images, a state and a snapshot after each

TRAIN_ARGS = ["--kimg", KIMG, "--batch", "4", "--batch-gpu", "2", "--cbase", "1024", "--cmax", "32",
              "--syn-layers", "4", "--z-dim", "16", "--w-dim", "32", "--backbones", "tf_efficientnet_lite0",
              "--no-pretrained", "--d-cout", "16", "--d-width-max", "32", "--workers", "0", "--tick", "0.004",
              "--snap", "1", "--device", "cpu", "--seed", "3"]  # fmt: skip


def _changed(path: Path, mtime_ns: int):
    """A condition: `path` exists with another modification time than `mtime_ns`."""
    return lambda: path.exists() and path.stat().st_mtime_ns != mtime_ns


def _check_run_folder(outdir: Path) -> None:
    """The state and the newest snapshot are whole files that load."""
    state = safetensors.torch.load_file(str(outdir / STATE_FILE))
    assert state
    snapshots = sorted(outdir.glob("network-snapshot-*.safetensors"))
    assert snapshots
    stylegan.load(snapshots[-1])


def test_sigkill_at_random_moments_never_corrupts_the_run_and_the_resume_is_exact(tmp_path):
    data = make_zip(tmp_path / "data.zip", 16)
    straight = tmp_path / "straight"
    process = _start("train", "--data", str(data), "--outdir", str(straight), *TRAIN_ARGS, cwd=tmp_path)
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output

    killed = tmp_path / "killed"
    rng = random.Random(0)
    kills = 0
    command = ["train", "--data", str(data), "--outdir", str(killed), *TRAIN_ARGS]
    while kills < 3:
        written = (killed / STATE_FILE).stat().st_mtime_ns if (killed / STATE_FILE).exists() else 0
        process = _start(*command, cwd=tmp_path)
        # Kill it at a random moment after it has saved a new state: while it trains or writes the next one.
        new_state = _changed(killed / STATE_FILE, written)
        if not _wait_for(new_state, process, seconds=300) or process.poll() is not None:
            break  # the run finished before the kill
        time.sleep(rng.uniform(0.0, 0.5))
        if process.poll() is not None:
            break
        process.kill()
        process.wait()
        kills += 1
        _check_run_folder(killed)
        command = ["train", "--resume", str(killed)]  # its own length, tick and snapshot interval
    process = _start(*command, cwd=tmp_path)
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
    assert kills == 3
    _check_run_folder(killed)
    _no_temporaries(killed)
    expected = safetensors.torch.load_file(str(straight / STATE_FILE))
    actual = safetensors.torch.load_file(str(killed / STATE_FILE))
    assert expected.keys() == actual.keys()
    assert [key for key in expected if not torch.equal(expected[key], actual[key])] == []
