"""`stylegan dataset`: turn a folder or zip of images into a training zip of square power-of-two PNGs.

Class subfolders become labels (their names are recorded as class_names); a source with its own dataset.json
keeps its labels. Unreadable files are listed and skipped; the zip is written under a temporary name and only
renamed when complete.
"""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import PIL.Image

from stylegan.errors import StyleGANError
from stylegan.images import open_image
from stylegan.io.atomic import atomic_path
from training.dataset import (
    IMAGE_SUFFIXES,
    LABELS_FILE,
    ImageSource,
    read_labels,
    to_rgb_on_white,
)

TRANSFORMS = ("center-crop", "center-crop-wide")


@dataclass
class DatasetReport:
    written: int = 0
    skipped: list[str] = field(default_factory=list)  # 'name: why'
    class_names: list[str] | None = None


def transform_image(image, resolution: int, transform: str) -> np.ndarray:
    """A PIL image -> uint8 [resolution, resolution, 3].

    center-crop: the largest centred square, resized. center-crop-wide: the largest centred 2:1 strip, resized
    to resolution x resolution/2 and placed in the middle of a black square (for wide subjects such as cars).
    """
    import PIL.Image

    image = to_rgb_on_white(image)
    width, height = image.size
    if transform == "center-crop":
        side = min(width, height)
        box = ((width - side) // 2, (height - side) // 2, (width + side) // 2, (height + side) // 2)
        return np.asarray(image.crop(box).resize((resolution, resolution), PIL.Image.LANCZOS))
    crop_width = min(width, 2 * height)
    crop_height = crop_width // 2
    box = ((width - crop_width) // 2, (height - crop_height) // 2)
    strip = image.crop((*box, box[0] + crop_width, box[1] + crop_height))
    strip = strip.resize((resolution, resolution // 2), PIL.Image.LANCZOS)
    canvas = np.zeros([resolution, resolution, 3], dtype=np.uint8)
    top = (resolution - resolution // 2) // 2
    canvas[top : top + resolution // 2] = np.asarray(strip)
    return canvas


class DatasetWriter:
    """A training zip being written: `add` one uint8 [H, W, 3] image at a time; complete when the block ends.

    The zip is written under a temporary name and renamed only when the block ends without an error.
    """

    def __init__(self, dest: str | Path, class_names: list[str] | None = None):
        self.dest = Path(dest)
        if self.dest.suffix.lower() != ".zip":
            raise StyleGANError(f"{self.dest}: the dataset is written as a .zip; use that suffix")
        self.class_names = class_names
        self.labels: list[list] = []
        self.written = 0

    def __enter__(self) -> DatasetWriter:
        with contextlib.ExitStack() as stack:
            tmp_path = stack.enter_context(atomic_path(self.dest))
            self._archive = stack.enter_context(
                zipfile.ZipFile(tmp_path, "w", compression=zipfile.ZIP_STORED)
            )
            self._open = (
                stack.pop_all()
            )  # closes the zip, then renames it into place (removes it on an error)
        return self

    def add(self, pixels: np.ndarray, label: int | None = None) -> None:
        name = f"{self.written // 1000:05d}/img{self.written:08d}.png"
        buffer = io.BytesIO()
        PIL.Image.fromarray(pixels).save(buffer, format="PNG", compress_level=0, optimize=False)
        self._archive.writestr(name, buffer.getvalue())
        if label is not None:
            self.labels.append([name, int(label)])
        self.written += 1

    def __exit__(self, *error) -> bool:
        if error[0] is not None:
            return self._open.__exit__(*error)
        with self._open:  # a failure to write the labels removes the zip too
            meta = {"labels": self.labels or None}
            if self.class_names:
                meta["class_names"] = self.class_names
            self._archive.writestr(LABELS_FILE, json.dumps(meta))
        return False


def make_dataset(
    source_path: str | Path,
    dest: str | Path,
    resolution: int,
    transform: str = "center-crop",
    max_images: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DatasetReport:
    """Write the training zip `dest` from the images in `source_path`; returns what was written and skipped."""
    if Path(dest).suffix.lower() != ".zip":
        raise StyleGANError(f"{dest}: the dataset is written as a .zip; use that suffix")
    if resolution < 4 or resolution & (resolution - 1):
        raise StyleGANError(f"resolution {resolution} is not a power of two (4, 8, ..., 1024)")
    if transform not in TRANSFORMS:
        raise StyleGANError(f"unknown transform {transform!r}: use {' or '.join(TRANSFORMS)}")
    source = ImageSource(Path(source_path))
    names = [n for n in source.names if PurePosixPath(n).suffix.lower() in IMAGE_SUFFIXES]
    if not names:
        raise StyleGANError(f"{source_path}: no images in it (looked for {', '.join(IMAGE_SUFFIXES)})")
    labels, class_names = read_labels(source, names)
    report = DatasetReport(class_names=class_names)
    total = len(names) if max_images is None else min(len(names), max_images)
    with DatasetWriter(dest, class_names) as writer:
        for position, name in enumerate(names):
            if writer.written >= total:
                break
            try:
                image = open_image(source.read(name), name)
            except StyleGANError as error:
                report.skipped.append(str(error))
                continue
            if labels is not None and name not in labels:
                raise StyleGANError(f"{source_path}/{LABELS_FILE}: no label for {name}")
            writer.add(
                transform_image(image, resolution, transform), None if labels is None else labels[name]
            )
            if progress:
                progress(position + 1, len(names))
        if writer.written == 0:
            raise StyleGANError(f"{source_path}: none of its {len(names)} images could be read")
    report.written = writer.written
    return report
