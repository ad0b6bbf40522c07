"""Fixtures the test modules share: a tiny class-conditional generator and its checkpoint, and the `gpu` mark's
skip on machines without CUDA. Each module gets its own instances (module scope), so a test that changes G
cannot leak into another module."""

import pytest
import torch
from tiny import make_zip, tiny_generator

import stylegan

CLASS_NAMES = ["cat", "dog", "hot dog", "owl", "fox"]


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


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
