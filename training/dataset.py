"""Training images: a folder or a zip of images, with class labels from `dataset.json` or from class subfolders.

The StyleGAN convention: `dataset.json` holds `{"labels": [["sub/img.png", 3], ...]}` (and here optionally
`"class_names": [...]`). Images are read one at a time when asked for, so a dataset never has to fit in memory,
and a zip is opened separately in each DataLoader worker.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from stylegan.errors import StyleGANError
from stylegan.images import MAX_DECODED_BYTES, has_transparency, open_image
from stylegan.io.archive import read_member
from stylegan.io.untrusted import (
    MAX_CLASSES,
    MAX_JSON_CHARS,
    ContentError,
    check_class_names,
    escape,
    excerpt,
    parse_json,
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
LABELS_FILE = "dataset.json"
MAX_MEMBER_BYTES = MAX_DECODED_BYTES  # of one image file: encoded, it is smaller than decoded


class ImageSource:
    """Files of a folder or a zip, by their posix paths relative to the root."""

    def __init__(self, path: Path):
        self.path = path
        self.is_zip = path.is_file()
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid = 0
        if self.is_zip:
            try:
                self.names = sorted(self._open_zip().namelist())
            except (zipfile.BadZipFile, OSError) as error:
                raise StyleGANError(f"{path}: not a zip archive or a folder of images ({error})") from None
        elif path.is_dir():
            self.names = sorted(str(p.relative_to(path).as_posix()) for p in path.rglob("*") if p.is_file())
        else:
            raise StyleGANError(f"{path}: no such folder or zip archive")

    def _open_zip(self) -> zipfile.ZipFile:
        # A forked DataLoader worker inherits the parent's handle and its file offset; sharing it corrupts reads
        # (bad CRC), so each process opens its own.
        if self._zip is None or self._zip_pid != os.getpid():
            self._zip = zipfile.ZipFile(self.path)
            self._zip_pid = os.getpid()
        return self._zip

    def read(self, name: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
        """The bytes of one file, refused (before reading) when its size passes `limit`."""
        if self.is_zip:
            return read_member(self._open_zip(), name, limit, str(self.path))
        path = self.path / name
        if path.stat().st_size > limit:
            raise StyleGANError(f"{path}: is {path.stat().st_size:,} bytes (at most {limit:,} are read)")
        return path.read_bytes()

    def __getstate__(self) -> dict:  # a zip handle cannot cross into a worker process: each opens its own
        return {**self.__dict__, "_zip": None}


def read_labels(source: ImageSource, names: list[str]) -> tuple[dict[str, int] | None, list[str] | None]:
    """({image name: class}, class names) from the source's dataset.json, else from class subfolders (when every
    image sits in one); (None, None) for unlabelled images. Labels are class indices below the class count
    (of `class_names` where it is given)."""
    if LABELS_FILE in source.names:
        where = f"{source.path}/{LABELS_FILE}"
        try:
            meta = parse_json(source.read(LABELS_FILE, MAX_JSON_CHARS).decode("utf-8"), LABELS_FILE)
            if type(meta) is not dict:
                raise ContentError(f"holds {excerpt(meta)}, not a JSON object")
            class_names = None if meta.get("class_names") is None else check_class_names(meta["class_names"])
            table = _label_table(meta.get("labels"), MAX_CLASSES if class_names is None else len(class_names))
        except UnicodeDecodeError:
            raise StyleGANError(f"{where}: is not UTF-8 text") from None
        except ContentError as error:
            raise StyleGANError(f"{where}: not a valid labels file ({error})") from None
        return (table or None), class_names
    parts = [PurePosixPath(name).parts for name in names]
    if names and all(len(p) == 2 for p in parts):
        try:
            class_names = check_class_names(sorted({p[0] for p in parts}))
        except ContentError as error:
            raise StyleGANError(f"{source.path}: its class folders cannot name classes ({error})") from None
        index = {name: i for i, name in enumerate(class_names)}
        return {name: index[p[0]] for name, p in zip(names, parts, strict=True)}, class_names
    return None, None


def _label_table(labels, class_count: int) -> dict[str, int]:
    """{image name: class} from dataset.json's `labels`: [[name, class], ...], a class being an integer index
    (or a list holding one, as the official dataset tool writes it) below `class_count`."""
    if labels is None:
        return {}
    if type(labels) is not list:
        raise ContentError(f"labels is {excerpt(labels)}, not a list of [image, class] pairs")
    table = {}
    for entry in labels:
        if type(entry) is not list or len(entry) != 2 or type(entry[0]) is not str:
            raise ContentError(f"the label entry {excerpt(entry)} is not an [image, class] pair")
        name, label = entry
        label = label[0] if type(label) is list and len(label) == 1 else label
        if type(label) is not int or not 0 <= label < class_count:
            raise ContentError(
                f"the label of {escape(name, 80)} is {excerpt(label)}, not a class index from 0 to {class_count - 1}"
            )
        table[name] = label
    return table


def to_rgb_on_white(image):
    """RGB, with any transparency composited on white."""
    import PIL.Image

    if has_transparency(image):
        rgba = image.convert("RGBA")
        canvas = PIL.Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


class ImageDataset(torch.utils.data.Dataset):
    """Square, power-of-two images of one size as uint8 [C, H, W], with one-hot labels [c_dim] (c_dim 0 without).

    With `xflip` the dataset is twice as long: the second half are the mirrored images.
    """

    def __init__(
        self, path: str | Path, use_labels: bool = True, xflip: bool = False, max_images: int | None = None
    ):
        self.path = Path(path)
        self.source = ImageSource(self.path)
        self.image_names = [n for n in self.source.names if PurePosixPath(n).suffix.lower() in IMAGE_SUFFIXES]
        if max_images is not None:
            self.image_names = self.image_names[:max_images]
        if not self.image_names:
            raise StyleGANError(f"{self.path}: no images in it (looked for {', '.join(IMAGE_SUFFIXES)})")
        self.xflip = xflip
        labels, self.class_names = self._labels() if use_labels else (None, None)
        self.labels = labels  # int64 [N] or None
        self.c_dim = 0 if labels is None else int(max(labels.max() + 1, len(self.class_names or [])))
        first = self._load_array(0)
        self.channels, self.resolution = first.shape[0], first.shape[1]
        self._check_shape(first, self.image_names[0])

    def _labels(self) -> tuple[np.ndarray | None, list[str] | None]:
        table, class_names = read_labels(self.source, self.image_names)
        if table is None:
            return None, class_names
        missing = [name for name in self.image_names if name not in table]
        if missing:
            raise StyleGANError(
                f"{self.path}/{LABELS_FILE}: no label for {missing[0]} ({len(missing)} images)"
            )
        return np.array([table[name] for name in self.image_names]), class_names

    def _load_array(self, raw_index: int) -> np.ndarray:
        name = self.image_names[raw_index]
        try:
            data = self.source.read(name)
        except (OSError, KeyError) as error:
            raise StyleGANError(f"{self.path}/{name}: cannot be read ({error})") from None
        image = open_image(data, f"{self.path}/{name}")
        if image.mode in ("L", "I;16", "I"):
            array = np.asarray(image.convert("L"))[None]
        else:
            array = np.asarray(to_rgb_on_white(image)).transpose(2, 0, 1)
        return np.ascontiguousarray(array)

    def _check_shape(self, array: np.ndarray, name: str) -> None:
        channels, height, width = array.shape
        if height != width:
            raise StyleGANError(
                f"{self.path}/{name}: {width}x{height} is not square; make the dataset with `stylegan dataset`"
            )
        if width < 4 or width & (width - 1):
            raise StyleGANError(
                f"{self.path}/{name}: {width}x{height} is not a power of two; make the dataset with `stylegan dataset`"
            )
        if (channels, width) != (self.channels, self.resolution):
            raise StyleGANError(
                f"{self.path}/{name}: {width}x{height} with {channels} channels, but the first image is "
                f"{self.resolution}x{self.resolution} with {self.channels}"
            )

    def check(self) -> None:
        """Read every image once and stop at the first bad one (wrong size, channels, unreadable)."""
        for index, name in enumerate(self.image_names):
            self._check_shape(self._load_array(index), name)

    def __len__(self) -> int:
        return len(self.image_names) * (2 if self.xflip else 1)

    def label(self, index: int) -> torch.Tensor:
        one_hot = torch.zeros(self.c_dim)
        if self.labels is not None:
            one_hot[self.labels[index % len(self.image_names)]] = 1
        return one_hot

    def random_labels(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """One-hot labels [count, c_dim] of random images of the set (its class distribution); [count, 0] without."""
        if self.labels is None:
            return torch.zeros([count, self.c_dim])
        picks = torch.randint(len(self.image_names), [count], generator=generator).numpy()
        return torch.nn.functional.one_hot(torch.from_numpy(self.labels[picks]), self.c_dim).float()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        raw = index % len(self.image_names)
        array = self._load_array(raw)
        self._check_shape(array, self.image_names[raw])
        if index >= len(self.image_names):
            array = array[:, :, ::-1]
        return torch.from_numpy(array.copy()), self.label(index)
