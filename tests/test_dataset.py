"""Training data: the dataset tool and the dataset reader, on generated images, including bad inputs."""

import json
import zipfile

import numpy as np
import PIL.Image
import pytest
import torch
from click.testing import CliRunner

from stylegan.errors import StyleGANError
from stylegan_cli import main
from training.dataset import ImageDataset
from training.dataset_tool import make_dataset, transform_image


def _image(path, size, colour, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.zeros([size[1], size[0], len(mode)], dtype=np.uint8)
    pixels[:] = colour
    PIL.Image.fromarray(pixels if len(mode) > 1 else pixels[:, :, 0], mode).save(path)


@pytest.fixture
def classes_folder(tmp_path):
    """Two class subfolders with images of odd sizes, one with transparency, and one broken file."""
    root = tmp_path / "photos"
    _image(root / "cat" / "a.png", (40, 30), (200, 0, 0))
    _image(root / "cat" / "b.jpg", (30, 50), (0, 200, 0))
    _image(root / "dog" / "c.png", (64, 64), (0, 0, 0, 0), mode="RGBA")  # fully transparent: white
    _image(root / "dog" / "d.webp", (33, 33), (0, 0, 200))
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG but not really")
    (root / "dog" / "notes.txt").write_text("not an image, not counted")
    return root


def test_the_tool_writes_square_pngs_with_class_labels(classes_folder, tmp_path):
    dest = tmp_path / "data.zip"
    report = make_dataset(classes_folder, dest, resolution=16)
    assert report.written == 4 and report.class_names == ["cat", "dog"]
    assert len(report.skipped) == 1 and "broken.png" in report.skipped[0]
    with zipfile.ZipFile(dest) as archive:
        meta = json.loads(archive.read("dataset.json"))
        assert meta["class_names"] == ["cat", "dog"]
        assert [label for _, label in meta["labels"]] == [0, 0, 1, 1]
        names = sorted(n for n in archive.namelist() if n.endswith(".png"))
        assert names[0] == "00000/img00000000.png"
    dataset = ImageDataset(dest)
    assert len(dataset) == 4 and dataset.resolution == 16 and dataset.channels == 3 and dataset.c_dim == 2
    image, label = dataset[2]
    assert image.dtype == torch.uint8 and image.shape == (3, 16, 16)
    assert (image == 255).all()  # the transparent image went on white
    assert label.tolist() == [0.0, 1.0] and dataset.class_names == ["cat", "dog"]
    dataset.check()


def test_transforms():
    red = PIL.Image.new("RGB", (80, 40), (255, 0, 0))
    square = transform_image(red, 8, "center-crop")
    assert square.shape == (8, 8, 3) and (square[:, :, 0] > 250).all()
    wide = transform_image(red, 8, "center-crop-wide")
    assert wide.shape == (8, 8, 3)
    assert (wide[2:6, :, 0] > 250).all() and (wide[:2] == 0).all() and (wide[6:] == 0).all()


def test_reading_a_folder_directly_with_xflip_and_max_images(tmp_path):
    root = tmp_path / "square"
    root.mkdir()
    for i in range(3):
        pixels = np.zeros([8, 8, 3], dtype=np.uint8)
        pixels[:, :4] = 50 * (i + 1)  # left half bright
        PIL.Image.fromarray(pixels).save(root / f"{i}.png")
    dataset = ImageDataset(root, xflip=True)
    assert len(dataset) == 6 and dataset.c_dim == 0 and dataset[0][1].shape == (0,)
    original, mirrored = dataset[1][0], dataset[4][0]
    assert torch.equal(mirrored, original.flip(2))
    assert len(ImageDataset(root, max_images=2)) == 2
    loader = torch.utils.data.DataLoader(ImageDataset(root), batch_size=2, num_workers=2)
    batches = list(loader)
    assert [b[0].shape[0] for b in batches] == [2, 1]


def test_dataset_json_labels_are_used(tmp_path):
    root = tmp_path / "labelled"
    _image(root / "x.png", (8, 8), (1, 2, 3))
    _image(root / "y.png", (8, 8), (4, 5, 6))
    (root / "dataset.json").write_text(json.dumps({"labels": [["x.png", 4], ["y.png", 1]]}))
    dataset = ImageDataset(root)
    assert dataset.c_dim == 5 and dataset[0][1].argmax() == 4 and dataset[1][1].argmax() == 1
    assert ImageDataset(root, use_labels=False).c_dim == 0
    (root / "dataset.json").write_text(json.dumps({"labels": [["x.png", 4]]}))
    with pytest.raises(StyleGANError, match="no label for y.png"):
        ImageDataset(root)


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ([(8, 6)], "8x6 is not square"),
        ([(12, 12)], "not a power of two"),
        ([(8, 8), (16, 16)], "first image is 8x8"),
    ],
)
def test_bad_datasets_name_the_first_bad_file(tmp_path, sizes, message):
    root = tmp_path / "bad"
    for i, size in enumerate(sizes):
        _image(root / f"{i}.png", size, (9, 9, 9))
    with pytest.raises(StyleGANError, match=message) as caught:
        ImageDataset(root).check()
    assert f"{len(sizes) - 1}.png" in str(caught.value)


def test_missing_and_empty_sources(tmp_path):
    with pytest.raises(StyleGANError, match="no such folder"):
        ImageDataset(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StyleGANError, match="no images"):
        ImageDataset(tmp_path / "empty")
    (tmp_path / "fake.zip").write_text("not a zip")
    with pytest.raises(StyleGANError, match="not a zip"):
        ImageDataset(tmp_path / "fake.zip")


def test_the_dataset_command(classes_folder, tmp_path):
    dest = tmp_path / "out" / "d.zip"
    result = CliRunner().invoke(main, ["dataset", "--source", str(classes_folder), "--dest", str(dest),
                                       "--resolution", "8", "--max-images", "3"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "3 images of 8x8, 2 classes" in result.output and "skipped" in result.output
    assert len(ImageDataset(dest)) == 3
    for arguments, message in [
        (["--resolution", "12"], "not a power of two"),
        (["--resolution", "8", "--dest", str(tmp_path / "d.tar")], "use that suffix"),
    ]:
        full = ["dataset", "--source", str(classes_folder), "--dest", str(dest), *arguments]
        result = CliRunner().invoke(main, full)
        assert result.exit_code == 2 and message in result.output, result.output
    broken_only = tmp_path / "broken"
    broken_only.mkdir()
    (broken_only / "x.png").write_bytes(b"nope")
    result = CliRunner().invoke(main, ["dataset", "--source", str(broken_only), "--dest", str(tmp_path / "b.zip"),
                                       "--resolution", "8"])  # fmt: skip
    assert result.exit_code == 2 and "none of its 1 images could be read" in result.output
    assert not (tmp_path / "b.zip").exists()


def test_worker_processes_read_a_zip_the_parent_already_opened(tmp_path):
    """Forked workers must not share the parent's zip handle (its file offset): that corrupted reads."""
    for index in range(24):
        _image(tmp_path / "src" / f"{index:02d}.png", (16, 16), (index * 10, 255 - index * 10, 7))
    make_dataset(tmp_path / "src", tmp_path / "data.zip", resolution=16)
    dataset = ImageDataset(tmp_path / "data.zip")
    expected = torch.stack([dataset[i][0] for i in range(len(dataset))])  # the parent opens the zip
    loader = torch.utils.data.DataLoader(dataset, batch_size=3, num_workers=2)
    assert torch.equal(torch.cat([images for images, _ in loader]), expected)


def test_a_dataset_whose_labels_cannot_be_written_leaves_no_zip(tmp_path):
    from training.dataset_tool import DatasetWriter

    with pytest.raises(TypeError), DatasetWriter(tmp_path / "d.zip", class_names=[object()]) as writer:
        writer.add(np.zeros((4, 4, 3), np.uint8), 0)
    assert list(tmp_path.iterdir()) == []
