"""`stylegan dataset emoji`: rendering, classes from emoji-test.txt, dropped glyphs, clear errors."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from stylegan.errors import StyleGANError
from stylegan_cli import main
from training.dataset import ImageDataset
from training.emoji import (
    DEFAULT_EMOJI_TEST,
    DEFAULT_FONT,
    DEFAULT_SUBGROUPS,
    EmojiRenderer,
    choose_classes,
    load_font,
    make_emoji_dataset,
    read_emoji_test,
)

needs_font = pytest.mark.skipif(
    not (Path(DEFAULT_FONT).is_file() and Path(DEFAULT_EMOJI_TEST).is_file()),
    reason="apt-get install fonts-noto-color-emoji unicode-data (make test does)",
)

SMALL_TEST_FILE = """\
# group: Smileys & Emotion
# subgroup: face-smiling
1F600 ; fully-qualified # \U0001f600 E1.0 grinning face
1F603 ; fully-qualified # \U0001f603 E0.6 grinning face with big eyes
263A FE0F ; fully-qualified # \u263a\ufe0f E0.6 smiling face
263A ; unqualified # \u263a E0.6 smiling face
# subgroup: heart
2764 FE0F ; fully-qualified # \u2764\ufe0f E0.6 red heart
# group: Animals & Nature
# subgroup: animal-mammal
1F436 ; fully-qualified # \U0001f436 E0.6 dog face
F0000 ; fully-qualified # ? E99 a code point no font has
"""


@pytest.fixture
def emoji_test(tmp_path) -> Path:
    path = tmp_path / "emoji-test.txt"
    path.write_text(SMALL_TEST_FILE, encoding="utf-8")
    return path


def test_emoji_test_is_read_with_groups_subgroups_and_only_fully_qualified(emoji_test):
    emoji = read_emoji_test(emoji_test)
    assert [e.name for e in emoji][:3] == ["grinning face", "grinning face with big eyes", "smiling face"]
    assert len(emoji) == 6  # the unqualified line is left out
    assert emoji[3].group == "Smileys & Emotion" and emoji[3].subgroup == "heart"
    assert emoji[4].text == "\U0001f436" and emoji[4].group == "Animals & Nature"


def test_classes_are_the_exact_names_in_file_order(emoji_test):
    emoji = read_emoji_test(emoji_test)
    assert choose_classes(emoji, "group") == ["Smileys & Emotion", "Animals & Nature"]
    assert choose_classes(emoji, "subgroup", min_per_class=2) == ["face-smiling", "animal-mammal"]
    assert choose_classes(emoji, "subgroup", only=["animal-mammal", "heart"]) == ["heart", "animal-mammal"]
    with pytest.raises(StyleGANError, match="no subgroup named 'hearts'"):
        choose_classes(emoji, "subgroup", only=["hearts"])


@needs_font
def test_rendered_dataset_has_labels_class_names_and_drops_what_the_font_lacks(emoji_test, tmp_path):
    report = make_emoji_dataset(tmp_path / "e.zip", 32, emoji_test=emoji_test, classes="group")
    assert report.class_names == ["Smileys & Emotion", "Animals & Nature"]
    assert report.counts == [4, 1] and report.dropped == ["a code point no font has"]
    dataset = ImageDataset(tmp_path / "e.zip")
    assert (len(dataset), dataset.resolution, dataset.c_dim) == (5, 32, 2)
    assert dataset.class_names == report.class_names
    image, label = dataset[4]
    assert label.tolist() == [0, 1]
    pixels = image.numpy()
    assert (pixels[:, 0, 0] == 255).all()  # composited on white
    assert pixels.std() > 30  # a drawn, coloured glyph, not an empty square
    # Centred on its bounding box: the non-white pixels touch two opposite borders and sit in the middle.
    ink = (pixels < 250).any(axis=0)
    rows, cols = np.nonzero(ink)
    assert (
        abs((rows.min() + rows.max()) / 2 - 15.5) <= 1.5 and abs((cols.min() + cols.max()) / 2 - 15.5) <= 1.5
    )


@needs_font
def test_a_sequence_the_font_cannot_join_is_dropped():
    renderer = EmojiRenderer(load_font(), 32)
    assert renderer("\U0001f600") is not None
    assert renderer("\U0001f600\u200d\U0001f436") is None  # no such ZWJ sequence: two glyphs side by side
    assert renderer(" ") is None


@needs_font
def test_the_default_classes_render_with_every_subgroup_present(tmp_path):
    report = make_emoji_dataset(tmp_path / "d.zip", 16, only=list(DEFAULT_SUBGROUPS))
    assert sorted(report.class_names) == sorted(DEFAULT_SUBGROUPS)
    assert min(report.counts) >= 25 and report.dropped == []
    with zipfile.ZipFile(tmp_path / "d.zip") as archive:
        meta = json.loads(archive.read("dataset.json"))
    assert len(meta["labels"]) == report.written == sum(report.counts)


def test_missing_font_or_file_is_one_error_line_naming_the_package(tmp_path, emoji_test):
    runner = CliRunner()
    result = runner.invoke(
        main, ["dataset", "emoji", "--dest", str(tmp_path / "x.zip"), "--font", str(tmp_path / "none.ttf"),
               "--emoji-test", str(emoji_test)],
    )  # fmt: skip
    assert result.exit_code == 2 and "fonts-noto-color-emoji" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(
        main,
        ["dataset", "emoji", "--dest", str(tmp_path / "x.zip"), "--emoji-test", str(tmp_path / "no.txt")],
    )
    assert result.exit_code == 2 and "unicode-data" in result.output
    assert not (tmp_path / "x.zip").exists()
