"""`stylegan dataset emoji`: a labelled training set rendered from a colour emoji font.

Every fully-qualified emoji of Unicode's emoji-test.txt is drawn with Pillow (colour bitmap fonts such as Noto
Color Emoji render through `embedded_color`), cropped to its bounding box, centred on a white square and resized.
Classes are the file's group or subgroup names, exactly as written there. Emoji the font cannot draw (nothing
drawn, the font's missing-glyph box, or a sequence that falls apart into several glyphs) are dropped and counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stylegan.errors import StyleGANError
from training.dataset_tool import DatasetWriter

DEFAULT_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
DEFAULT_EMOJI_TEST = "/usr/share/unicode/emoji/emoji-test.txt"
FONT_PACKAGE = "fonts-noto-color-emoji"
EMOJI_TEST_PACKAGE = "unicode-data"
# The one size a CBDT bitmap font such as Noto Color Emoji offers (its 136x128 bitmaps).
FONT_SIZE = 109
RESOLUTIONS = (16, 32, 64, 128)
CLASS_KINDS = ("group", "subgroup")
# A code point no font maps: what it draws is the font's missing-glyph box.
_UNMAPPED = "\U000f0000"

# The bundled default model's classes: ten subgroups that look unlike each other at 32x32 and hold 25 to 66
# emoji each (a spread of 2.6x, so no class is starved without any re-balancing), each drawn from a common
# pattern (round yellow faces, hands, clocks, blue buttons, ...) that a small generator can learn. The first set
# had food-prepared and sky & weather instead of person-resting and av-symbol: the generator never learned those
# two (25 and 3 % class accuracy), whose emoji share no shape or colour.
DEFAULT_SUBGROUPS = (
    "face-concerned",
    "heart",
    "hand-fingers-open",
    "person-resting",
    "animal-mammal",
    "transport-ground",
    "time",
    "clothing",
    "av-symbol",
    "geometric",
)


@dataclass(frozen=True)
class Emoji:
    text: str
    name: str
    group: str
    subgroup: str


@dataclass
class EmojiReport:
    written: int = 0
    class_names: list[str] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # images per class
    dropped: list[str] = field(default_factory=list)  # emoji the font cannot draw


def read_emoji_test(path: str | Path = DEFAULT_EMOJI_TEST) -> list[Emoji]:
    """The fully-qualified emoji of an emoji-test.txt, in the file's order, with their group and subgroup."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise StyleGANError(
            f"{path}: no such file; it comes with Debian's {EMOJI_TEST_PACKAGE} "
            f"(apt-get install {EMOJI_TEST_PACKAGE}), or give another with --emoji-test"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise StyleGANError(f"{path}: cannot be read ({error})") from None
    found, group, subgroup = [], None, None
    for line in lines:
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif "; fully-qualified" in line and "#" in line:
            codes, comment = line.split(";", 1)[0], line.split("#", 1)[1].split()
            try:
                text = "".join(chr(int(code, 16)) for code in codes.split())
            except ValueError:
                continue
            name = " ".join(comment[2:])  # after the emoji itself and its version, e.g. 'E1.0'
            found.append(Emoji(text, name, group or "", subgroup or ""))
    if not found:
        raise StyleGANError(f"{path}: no fully-qualified emoji in it; is it Unicode's emoji-test.txt?")
    return found


def load_font(path: str | Path = DEFAULT_FONT):
    import PIL.ImageFont

    path = Path(path)
    if not path.is_file():
        raise StyleGANError(
            f"{path}: no such font; Noto Color Emoji comes with Debian's {FONT_PACKAGE} "
            f"(apt-get install {FONT_PACKAGE}), or give another colour emoji font with --font"
        )
    try:
        return PIL.ImageFont.truetype(str(path), FONT_SIZE)
    except OSError as error:
        raise StyleGANError(f"{path}: not a font Pillow can draw at size {FONT_SIZE} ({error})") from None


class EmojiRenderer:
    """Draws emoji of one font as uint8 [resolution, resolution, 3] on white, or None where the font has none."""

    def __init__(self, font, resolution: int):
        self.font = font
        self.resolution = resolution
        self.advance = font.getlength("\U0001f600")  # one glyph's width; a broken sequence is several
        self.missing = self._draw(_UNMAPPED)

    def _draw(self, text: str):
        """The glyphs of `text` cropped to what they cover (RGBA), or None when nothing is drawn."""
        import PIL.Image
        import PIL.ImageDraw

        left, top, right, bottom = self.font.getbbox(text)
        canvas = PIL.Image.new("RGBA", (max(right - left, 1) + 4, max(bottom - top, 1) + 4), (0, 0, 0, 0))
        PIL.ImageDraw.Draw(canvas).text((2 - left, 2 - top), text, font=self.font, embedded_color=True)
        box = canvas.getchannel("A").getbbox()
        return None if box is None else canvas.crop(box)

    def __call__(self, text: str) -> np.ndarray | None:
        import PIL.Image

        if self.font.getlength(text) > 1.5 * self.advance:
            return None
        glyph = self._draw(text)
        if glyph is None or (self.missing is not None and _same_image(glyph, self.missing)):
            return None
        side = max(glyph.size)
        square = PIL.Image.new("RGB", (side, side), (255, 255, 255))
        square.paste(
            glyph, ((side - glyph.width) // 2, (side - glyph.height) // 2), mask=glyph.getchannel("A")
        )
        return np.asarray(square.resize((self.resolution, self.resolution), PIL.Image.LANCZOS))


def _same_image(a, b) -> bool:
    return a.size == b.size and np.array_equal(np.asarray(a), np.asarray(b))


def choose_classes(
    emoji: list[Emoji], kind: str, min_per_class: int = 1, only: list[str] | None = None
) -> list[str]:
    """Class names in the file's order: every group or subgroup with at least `min_per_class` emoji, or `only`."""
    if kind not in CLASS_KINDS:
        raise StyleGANError(f"unknown class kind {kind!r}: use {' or '.join(CLASS_KINDS)}")
    counts: dict[str, int] = {}
    for item in emoji:
        key = getattr(item, kind)
        counts[key] = counts.get(key, 0) + 1
    if only:
        unknown = [name for name in only if name not in counts]
        if unknown:
            raise StyleGANError(
                f"no {kind} named {', '.join(map(repr, unknown))} in emoji-test.txt (names are exact, e.g. "
                f"{', '.join(map(repr, list(counts)[:3]))})"
            )
        return [name for name in counts if name in only]
    chosen = [name for name, count in counts.items() if count >= min_per_class]
    if not chosen:
        raise StyleGANError(f"no {kind} has {min_per_class} emoji or more")
    return chosen


def make_emoji_dataset(
    dest: str | Path,
    resolution: int = 32,
    font: str | Path = DEFAULT_FONT,
    emoji_test: str | Path = DEFAULT_EMOJI_TEST,
    classes: str = "subgroup",
    min_per_class: int = 1,
    only: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EmojiReport:
    """Render the emoji of the chosen classes into the training zip `dest` (labels and class names included)."""
    if resolution not in RESOLUTIONS:
        raise StyleGANError(
            f"resolution {resolution}: emoji are rendered at {', '.join(map(str, RESOLUTIONS))}"
        )
    emoji = read_emoji_test(emoji_test)
    renderer = EmojiRenderer(load_font(font), resolution)
    class_names = choose_classes(emoji, classes, min_per_class, only)
    index = {name: i for i, name in enumerate(class_names)}
    selected = [item for item in emoji if getattr(item, classes) in index]
    report = EmojiReport(class_names=class_names, counts=[0] * len(class_names))
    with DatasetWriter(dest, class_names) as writer:
        for position, item in enumerate(selected):
            pixels = renderer(item.text)
            if pixels is None:
                report.dropped.append(item.name)
            else:
                label = index[getattr(item, classes)]
                writer.add(pixels, label)
                report.counts[label] += 1
            if progress:
                progress(position + 1, len(selected))
        if writer.written == 0:
            raise StyleGANError(f"{font} draws none of the {len(selected)} chosen emoji")
    report.written = writer.written
    return report
