"""The bundled default model is trained: a classifier fitted on real emoji recognises the class it draws far
above chance, its samples are varied, and it loads wherever a model name is taken.

The bar is the model's aim: class accuracy at least 0.8 at psi 1 (chance 0.10); the bundled model measures 0.838
(see the model card in the README).
"""

from pathlib import Path

import pytest
import torch

import stylegan
from stylegan.io.loading import BUNDLED_MODELS
from training.dataset import ImageDataset
from training.emoji import DEFAULT_EMOJI_TEST, DEFAULT_FONT, DEFAULT_SUBGROUPS, make_emoji_dataset
from training.quality import evaluate_quality, quality_features, real_features

pytestmark = pytest.mark.skipif(not BUNDLED_MODELS["default"].is_file(), reason="no bundled default model")
needs_font = pytest.mark.skipif(
    not (Path(DEFAULT_FONT).is_file() and Path(DEFAULT_EMOJI_TEST).is_file()),
    reason="apt-get install fonts-noto-color-emoji unicode-data (make test does)",
)
SAMPLES_PER_CLASS = 30
MIN_CLASS_ACCURACY = 0.8  # the aim of issue 11; the bundle measures 83.8 % (50 per class, seed 0)


@pytest.fixture(scope="module")
def default_model():
    return stylegan.load("default")


@pytest.fixture(scope="module")
def emoji32(tmp_path_factory):
    if not (Path(DEFAULT_FONT).is_file() and Path(DEFAULT_EMOJI_TEST).is_file()):
        pytest.skip("apt-get install fonts-noto-color-emoji unicode-data (make test does)")
    path = tmp_path_factory.mktemp("emoji") / "emoji32.zip"
    make_emoji_dataset(path, 32, only=list(DEFAULT_SUBGROUPS))
    return ImageDataset(path)


@pytest.fixture(scope="module")
def features():
    return quality_features()


@pytest.fixture(scope="module")
def real(features, emoji32):
    return real_features(features, emoji32)


def test_default_loads_as_float32_with_its_classes_and_model_card(default_model):
    G = default_model
    assert (G.img_resolution, G.c_dim) == (32, len(DEFAULT_SUBGROUPS))
    assert sorted(G.metadata["class_names"]) == sorted(DEFAULT_SUBGROUPS)
    assert all(p.dtype == torch.float32 for p in G.parameters())
    card = G.metadata["model_card"]
    assert [stage["kimg"] > 0 for stage in card["stages"]] == [True, True]
    assert card["quality"]["class_accuracy"] >= MIN_CLASS_ACCURACY and card["commands"]
    assert BUNDLED_MODELS["default"].stat().st_size < 30e6


@needs_font
def test_the_default_model_draws_the_class_it_is_asked_for(default_model, emoji32, features, real):
    report = evaluate_quality(default_model, emoji32, SAMPLES_PER_CLASS, seed=1, features=features, real=real)
    assert report.classifier_real_accuracy >= 0.7  # the classifier itself tells the classes apart
    assert report.class_accuracy >= MIN_CLASS_ACCURACY
    assert report.min_class_diversity >= 0.5  # every class varies at least half as much as its real images
    assert report.frechet_distance < report.frechet_distance_real_halves * 2.5


@needs_font
def test_a_random_generator_of_the_same_layout_fails_the_same_measure(default_model, emoji32, features, real):
    torch.manual_seed(0)
    random_G = stylegan.Generator(**default_model.config).eval()
    report = evaluate_quality(
        random_G, emoji32, 10, seed=1, features=features, real=real
    )  # it only has to fail
    assert report.class_accuracy < 0.25
    assert report.frechet_distance > report.frechet_distance_real_halves * 2.5
