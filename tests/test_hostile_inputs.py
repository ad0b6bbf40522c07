"""Hostile images, latents and datasets end in one StyleGANError, within bounds of memory and time.

The cases of tests/hostile_inputs.py are read in the memory-capped worker of tests/hostile_files.py; the tests
below them pin the mechanisms (bounded zip members and .npy headers, label and class-name rules) one by one.
"""

import io
import zipfile
from types import SimpleNamespace

import hostile_files
import hostile_inputs
import numpy as np
import PIL.Image
import pytest
import torch

from stylegan.errors import StyleGANError
from stylegan.images import open_image
from stylegan.inversion import Projector, load_latent, save_latent
from stylegan.io.archive import read_member, read_npy
from stylegan.io.untrusted import ContentError, check_class_names
from stylegan.latent import load_centroids
from training.dataset import ImageDataset, ImageSource

PEAK_MB = 64  # memory a hostile input may make its reader take above the imports
CASE_SECONDS = 5
READ_FINE = {"65k-members": "latent"}  # a real latent among junk members, which are never read


@pytest.fixture(scope="module")
def input_results():
    return {result["case"]: result for result in hostile_files.measure(cases=hostile_inputs.INPUT_CASES)}


@pytest.mark.parametrize("case", [case.name for case in hostile_inputs.INPUT_CASES])
def test_hostile_input_ends_in_one_clear_error_within_bounds(input_results, case):
    result = input_results[case]
    assert result["outcome"] == READ_FINE.get(case, "StyleGANError"), result
    assert result["seconds"] < CASE_SECONDS, result
    assert result["peak_mb"] < PEAK_MB, result
    assert not any(code in result.get("message", "") for code in ("\x1b", "\x07", "\u202e")), result


# images ---------------------------------------------------------------------------------------------------


def test_the_stated_size_is_refused_before_decoding():
    with pytest.raises(StyleGANError, match="13000 x 13000 image is too large"):
        open_image(hostile_inputs.png(13000, 13000, rows=1), "big.png")
    image = open_image(hostile_inputs.png(300, 200), "fine.png")
    assert image.size == (300, 200)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_float_images_are_refused(value, tmp_path):
    path = tmp_path / "float.tif"
    path.write_bytes(hostile_inputs._float_tiff(value))
    with pytest.raises(StyleGANError, match="NaN or infinite"):
        open_image(path)


def test_a_non_finite_target_tensor_is_refused(G):
    target = torch.zeros([1, G.img_channels, G.img_resolution, G.img_resolution])
    target[0, 0, 1, 1] = float("nan")
    with pytest.raises(StyleGANError, match="NaN or infinite"):
        Projector(G, target, None, num_steps=1)


# zip members and arrays -----------------------------------------------------------------------------------


def test_a_member_is_refused_by_its_stated_size_and_by_what_it_inflates_to():
    bomb = hostile_inputs.zip_bomb({"ok": b"fine"}, "big", inflated=8 << 20)
    with zipfile.ZipFile(io.BytesIO(bomb)) as archive:
        assert read_member(archive, "ok", 4, "a.zip") == b"fine"
        with pytest.raises(StyleGANError, match="inflates to 8,388,608 bytes"):
            read_member(archive, "big", 1 << 20, "a.zip")
        with pytest.raises(StyleGANError, match="has no member"):
            read_member(archive, "none", 10, "a.zip")
    lying = hostile_inputs.understated(bomb, "big", 100)
    with zipfile.ZipFile(io.BytesIO(lying)) as archive, pytest.raises(StyleGANError, match="cannot be read"):
        read_member(archive, "big", 1 << 20, "a.zip")


@pytest.mark.parametrize("order", ["C", "F"])
def test_read_npy_gives_what_numpy_saved(order):
    array = np.asfortranarray(np.arange(24, dtype=np.float64).reshape(2, 3, 4)) if order == "F" else np.eye(3)
    data = hostile_inputs.npy(array)
    np.testing.assert_array_equal(read_npy(io.BytesIO(data), len(data), "a.npy", 1 << 10), array)


@pytest.mark.parametrize(
    "data, problem",
    [
        (hostile_inputs.npy_claiming((10**18,)), "at most"),
        (hostile_inputs.npy_claiming((100,)), "the file holds 64"),
        (hostile_inputs.npy(np.array([None, 1], dtype=object), True), "only numbers"),
        (hostile_inputs.npy(np.array(["text"])), "only numbers"),
        (hostile_inputs.npy(np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")])), "only numbers"),
        (b"\x93NUMPY\x09\x00", "not a .npy"),
        (b"not numpy at all", "not a .npy"),
    ],
)
def test_read_npy_checks_the_header_before_allocating(data, problem):
    with pytest.raises(StyleGANError, match=problem):
        read_npy(io.BytesIO(data), len(data), "a.npy", 1 << 20)


def test_a_latent_is_checked_against_the_model(tmp_path):
    model = SimpleNamespace(**hostile_inputs.LATENT_SHAPE)
    ws = np.full([model.num_ws, model.w_dim], 0.5, dtype=np.float32)
    loaded, class_index = load_latent(save_latent(tmp_path / "ok.npz", ws, 2, "w+"), model)
    assert class_index == 2 and torch.equal(loaded[0], torch.from_numpy(ws))
    save_latent(tmp_path / "class.npz", ws, 3, "w+")
    with pytest.raises(StyleGANError, match="class 3 is not one of this model's 3 classes"):
        load_latent(tmp_path / "class.npz", model)
    with pytest.raises(StyleGANError, match="has no classes"):
        load_latent(tmp_path / "class.npz", SimpleNamespace(num_ws=model.num_ws, w_dim=model.w_dim, c_dim=0))


def test_centroids_are_read_within_bounds(tmp_path):
    (tmp_path / "claims.npy").write_bytes(hostile_inputs.npy_claiming((10**9, 8)))
    with pytest.raises(StyleGANError, match="at most"):
        load_centroids(tmp_path / "claims.npy", 8)
    np.save(tmp_path / "nan.npy", np.full([2, 8], np.nan, dtype=np.float32))
    with pytest.raises(StyleGANError, match="NaN"):
        load_centroids(tmp_path / "nan.npy", 8)
    np.save(tmp_path / "ok.npy", np.ones([2, 8], dtype=np.float32))
    assert load_centroids(tmp_path / "ok.npy", 8).shape == (2, 8)


# datasets -------------------------------------------------------------------------------------------------


def _dataset(tmp_path, **kwargs) -> ImageDataset:
    path = tmp_path / "data.zip"
    path.write_bytes(hostile_inputs.dataset(**kwargs))
    return ImageDataset(path)


def test_labels_as_the_official_tool_writes_them_are_read(tmp_path):
    data = _dataset(
        tmp_path, labels=[["img0.png", [1]], ["img1.png", 0], ["img2.png", 1]], class_names=["a", "b"]
    )
    assert data.labels.tolist() == [1, 0, 1] and data.c_dim == 2 and data.class_names == ["a", "b"]


@pytest.mark.parametrize("label", [-1, 2, 1.5, True, "1", [1, 0], None])
def test_a_label_outside_the_classes_is_refused(tmp_path, label):
    with pytest.raises(StyleGANError, match="not a class index from 0 to 1"):
        _dataset(
            tmp_path, labels=[["img0.png", 0], ["img1.png", label], ["img2.png", 1]], class_names=["a", "b"]
        )


def test_a_dataset_member_is_read_within_its_bound(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "big.png").write_bytes(b"\0" * 2000)
    source = ImageSource(tmp_path / "folder")
    assert len(source.read("big.png")) == 2000
    with pytest.raises(StyleGANError, match="at most 1,000 are read"):
        source.read("big.png", limit=1000)


def test_class_folders_must_name_classes_printably(tmp_path):
    for folder in ("cats", "dogs\x1b[2J"):
        (tmp_path / "src" / folder).mkdir(parents=True)
        PIL.Image.new("RGB", (8, 8)).save(tmp_path / "src" / folder / "a.png")
    with pytest.raises(StyleGANError, match="class folders cannot name classes"):
        ImageDataset(tmp_path / "src")


@pytest.mark.parametrize(
    "names, problem",
    [
        ("abc", "not a list"),
        ([1, 2], "not a list"),
        (["ok", ""], "class name 1 has 0 characters"),
        (["a" * 201], "has 201 characters"),
        (["fine", "bell\x07"], "control characters"),
        (["right\u202eto left"], "control characters"),
        (["line\u2028break"], "control characters"),
        (["c"] * 100_001, "at most 100,000"),
    ],
)
def test_class_names_are_short_printable_text(names, problem):
    with pytest.raises(ContentError, match=problem):
        check_class_names(names)


def test_class_names_may_be_any_language_and_emoji():
    names = ["face-smiling", "Animals & Nature", "猫", "👩\u200d💻 technologist", "[/] markup-looking"]
    assert check_class_names(names) == names


def test_a_model_with_control_characters_in_a_class_name_is_refused(G, tmp_path):
    import stylegan

    path = stylegan.save(G, tmp_path / "model.safetensors", class_names=["a\x1b[2J"] * G.c_dim)
    with pytest.raises(StyleGANError, match="control characters"):
        stylegan.load(path)
