"""Fixtures the test modules share: a tiny class-conditional generator and its checkpoint, a training zip, a
virtual display for the window tests, and the `gpu` mark's skip on machines without CUDA. Each module gets its
own instances (module scope), so a test that changes G cannot leak into another module."""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

# Under pytest-xdist (`make test` runs two workers on two cores) each worker, and what it starts, computes on one
# thread: two workers of two OpenMP threads each would oversubscribe the cores, their idle threads spinning
# against the other worker's busy ones. This must be set before torch is imported.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from tiny import make_zip, tiny_generator  # noqa: E402

import stylegan  # noqa: E402

CLASS_NAMES = ["cat", "dog", "hot dog", "owl", "fox"]


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def count_calls(monkeypatch):
    """count_calls(module, name): a list that grows by one each time module.`name` runs from then on."""

    def start(module, name: str) -> list:
        count = []
        original = getattr(module, name)

        def counted(*args):
            count.append(1)
            return original(*args)

        monkeypatch.setattr(module, name, counted)
        return count

    return start


@pytest.fixture(scope="module")
def G():  # noqa: N802 (the conventional name of a generator)
    """A tiny class-conditional StyleGAN-XL (16x16, 5 classes, 6 ws) with random weights and buffers."""
    return tiny_generator("stylegan-xl", c_dim=len(CLASS_NAMES))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    """The same tiny generator saved as a checkpoint with CLASS_NAMES, as the CLI and the GUI load it."""
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    G = tiny_generator("stylegan-xl", c_dim=len(CLASS_NAMES))
    return str(stylegan.save(G, path, class_names=CLASS_NAMES))


@pytest.fixture(scope="module")
def data16(tmp_path_factory):
    """A labelled 16x16 training zip: three classes of four images whose colour follows the class."""
    return make_zip(tmp_path_factory.mktemp("data") / "data16.zip", 16)


def _accepts_connections(path: str, seconds: float = 10.0) -> bool:
    """Wait until the X server at this socket accepts connections (it starts a moment after the process)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(path)
                return True
            except OSError:
                time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def display():
    """A virtual display for the module (CI has no screen); skips when neither a display nor Xvfb exists."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    if shutil.which("Xvfb") is None:
        pytest.skip("needs a display or Xvfb")
    number = next(n for n in range(100, 1000) if not Path(f"/tmp/.X{n}-lock").exists())
    # -noreset: the server does not restart (refusing connections for a moment) each time the last window closes.
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp", "-noreset"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    if not _accepts_connections(f"/tmp/.X11-unix/X{number}"):
        server.kill()
        pytest.skip("Xvfb did not start")
    os.environ["DISPLAY"] = f":{number}"
    try:
        yield os.environ["DISPLAY"]
    finally:
        del os.environ["DISPLAY"]
        server.terminate()
        server.wait()
