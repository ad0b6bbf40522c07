"""Hostile files of every kind a person hands us besides models: images, latents (.npz) and training datasets.

Each builder returns the bytes of one file that attacks one reader in one way: sizes stated in a header that
decoding would allocate, zip members that inflate far beyond their stored size (or lie about it), arrays whose
header claims 10^18 elements or holds pickled objects, non-finite values, labels outside the class count, and
class names meant for a terminal or a window. tests/hostile_files.py measures them in the same limited worker
as the model files (`python tests/hostile_files.py measure --only image latent dataset`).
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib

import numpy as np
from hostile_files import Case

TARGET_RESOLUTION = 16
LATENT_SHAPE = dict(num_ws=4, w_dim=8, c_dim=3)  # the model a hostile latent is opened for
BOMB_BYTES = 1 << 30  # what a bomb member inflates to
MIB = 1 << 20


# images ---------------------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, rows: int | None = None, extra: bytes = b"") -> bytes:
    """An RGB PNG stating `width` x `height`, with the black pixels of its first `rows` rows (all by default)."""
    rows = height if rows is None else rows
    line = b"\0" * (1 + 3 * width)  # filter byte, pixels
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = compressor.compress(line) + compressor.flush(zlib.Z_FULL_FLUSH)  # decodes on its own
    checksum = 1
    for _ in range(rows):
        checksum = zlib.adler32(line, checksum)
    data = b"\x78\xda" + segment * rows + b"\x03\x00" + struct.pack(">I", checksum)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunks = _png_chunk(b"IHDR", header) + extra + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def _ztxt_bomb() -> bytes:
    """A small PNG whose compressed text chunk inflates to 100 MB."""
    text = b"Comment\0\0" + zlib.compress(b"\0" * (100 << 20), 9)
    return png(8, 8, extra=_png_chunk(b"zTXt", text))


def _float_tiff(value: float) -> bytes:
    import PIL.Image

    pixels = np.full([8, 8], 0.5, dtype=np.float32)
    pixels[3, 4] = value
    buffer = io.BytesIO()
    PIL.Image.fromarray(pixels, mode="F").save(buffer, format="TIFF")
    return buffer.getvalue()


def _jpeg_stating(width: int, height: int) -> bytes:
    import PIL.Image

    buffer = io.BytesIO()
    PIL.Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")  # baseline start-of-frame: marker, length, precision, height, width
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _gif_stating(width: int, height: int) -> bytes:
    import PIL.Image

    buffer = io.BytesIO()
    PIL.Image.new("P", (8, 8)).save(buffer, format="GIF")
    data = bytearray(buffer.getvalue())
    data[6:10] = struct.pack("<HH", width, height)  # the logical screen
    return bytes(data)


# zip members ----------------------------------------------------------------------------------------------


def _deflate_zeros(count: int, prefix: bytes = b"") -> bytes:
    """A raw deflate stream of `prefix` and then `count` zero bytes (a multiple of 1 MiB), built in moments: one
    flushed segment of 1 MiB of zeros decodes on its own, so the stream repeats it."""
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = head.compress(prefix) + head.flush(zlib.Z_FULL_FLUSH)
    body = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = body.compress(b"\0" * MIB) + body.flush(zlib.Z_FULL_FLUSH)
    return start + segment * (count // MIB) + b"\x03\x00"  # an empty final block ends it


def zip_bomb(
    members: dict[str, bytes], bomb_name: str, prefix: bytes = b"", inflated: int = BOMB_BYTES
) -> bytes:
    """A zip holding `members` (stored) and one deflated member that inflates to `inflated` bytes: `prefix`,
    then zeros."""
    crc = zlib.crc32(prefix)
    zeros = b"\0" * MIB
    for _ in range((inflated - len(prefix)) // MIB):
        crc = zlib.crc32(zeros, crc)
    stored = {name: data.encode() if isinstance(data, str) else data for name, data in members.items()}
    entries = [(name, data, zlib.crc32(data), len(data), 0) for name, data in stored.items()]
    size = len(prefix) + (inflated - len(prefix)) // MIB * MIB
    entries.append((bomb_name, _deflate_zeros(size - len(prefix), prefix), crc, size, 8))
    return _zip(entries)


def _zip(entries: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip archive, written by hand, of (name, stored bytes, crc, uncompressed size, method) entries."""
    out, directory = bytearray(), bytearray()
    for name, data, crc, size, method in entries:
        encoded = name.encode()
        directory += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc, len(data), size,
                                 len(encoded), 0, 0, 0, 0, 0, len(out)) + encoded  # fmt: skip
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(data), size,
                           len(encoded), 0) + encoded + data  # fmt: skip
    count = len(entries)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(directory), len(out), 0)
    return bytes(out + directory + end)


def understated(data: bytes, name: str, stated: int) -> bytes:
    """The zip `data` with member `name`'s uncompressed size rewritten to `stated` in both of its headers: the
    member then inflates to more than it says."""
    data = bytearray(data)
    encoded = name.encode()
    for signature, name_at, size_at in ((b"PK\x03\x04", 30, 22), (b"PK\x01\x02", 46, 24)):
        at = data.index(signature)
        while data[at + name_at : at + name_at + len(encoded)] != encoded:
            at = data.index(signature, at + 4)
        data[at + size_at : at + size_at + 4] = struct.pack("<I", stated)
    return bytes(data)


# latents --------------------------------------------------------------------------------------------------


def npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def npy_claiming(shape: tuple[int, ...], dtype: str = "<f4", data: bytes = b"\0" * 64) -> bytes:
    """A .npy whose header states `shape` but holds only `data`."""
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


def npz(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(f"{name}.npy", data)
    return buffer.getvalue()


def _w(fill: float = 0.1, shape=None) -> bytes:
    num_ws, w_dim = LATENT_SHAPE["num_ws"], LATENT_SHAPE["w_dim"]
    w = np.full(shape or [1, num_ws, w_dim], 0.1, dtype=np.float32)
    w.reshape(-1)[3] = fill
    return npy(w)


def _latent_with_class(value) -> bytes:
    return npz(w=_w(), **{"class": npy(np.asarray(value))})


def _many_members(count: int = 65_000) -> bytes:
    w = _w()
    return _zip(
        [("w.npy", w, zlib.crc32(w), len(w), 0)] + [(f"m{index}", b"", 0, 0, 0) for index in range(count)]
    )


# datasets -------------------------------------------------------------------------------------------------


def _small_png() -> bytes:
    import PIL.Image

    buffer = io.BytesIO()
    PIL.Image.new("RGB", (TARGET_RESOLUTION, TARGET_RESOLUTION), (20, 120, 220)).save(buffer, format="PNG")
    return buffer.getvalue()


def dataset(labels=None, class_names=None, meta: str | bytes | None = None, images: int = 3) -> bytes:
    """A training zip of `images` small PNGs and a dataset.json: `meta` as given, else from labels/class_names."""
    names = [f"img{index}.png" for index in range(images)]
    if meta is None:
        labels = [[name, 0] for name in names] if labels is None else labels
        meta = json.dumps({"labels": labels, **({} if class_names is None else {"class_names": class_names})})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.writestr(name, _small_png())
        archive.writestr("dataset.json", meta)
    return buffer.getvalue()


def _labelled(label) -> bytes:
    return dataset(labels=[["img0.png", 0], ["img1.png", label], ["img2.png", 1]], class_names=["a", "b"])


def _unnamed_label(label) -> bytes:
    return dataset(labels=[["img0.png", 0], ["img1.png", label], ["img2.png", 1]])


def _deep_labels(levels: int = 100_000) -> str:
    return '{"labels": ' + "[" * levels + "]" * levels + "}"


def _image_bomb_dataset() -> bytes:
    members = {
        "img0.png": _small_png(),
        "dataset.json": json.dumps({"labels": [["img0.png", 0], ["img1.png", 0]]}),
    }
    return zip_bomb(members, "img1.png", prefix=png(16, 16)[:33])


def _labels_bomb_dataset() -> bytes:
    return zip_bomb({"img0.png": _small_png()}, "dataset.json", prefix=b'{"labels": [], "x": "')


def _understated_image() -> bytes:
    members = {
        "img0.png": _small_png(),
        "dataset.json": json.dumps({"labels": [["img0.png", 0], ["img1.png", 0]]}),
    }
    return understated(zip_bomb(members, "img1.png", inflated=64 << 20), "img1.png", 1000)


def _huge_image_dataset() -> bytes:
    data = dataset()
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("img9.png", png(13000, 13000))
    return buffer.getvalue()


def _lazy(builder, *args, **kwargs):
    return lambda: builder(*args, **kwargs)


INPUT_CASES: list[Case] = [
    # images: inversion targets, dataset sources, drops
    Case("image", "png-13000x13000", _lazy(png, 13000, 13000), ".png", mode="target"),
    Case("image", "png-stating-65535x65535", _lazy(png, 65535, 65535, rows=4), ".png", mode="target"),
    Case("image", "jpeg-stating-65500x65500", _lazy(_jpeg_stating, 65500, 65500), ".jpg", mode="target"),
    Case("image", "gif-stating-65535x65535", _lazy(_gif_stating, 65535, 65535), ".gif", mode="target"),
    Case("image", "png-ztxt-100mb", _ztxt_bomb, ".png", mode="target"),
    Case("image", "png-truncated", lambda: png(64, 64)[:60], ".png", mode="target"),
    Case("image", "not-an-image", lambda: b"GIF89a" + bytes(range(256)) * 8, ".png", mode="target"),
    Case("image", "tiff-float-nan", _lazy(_float_tiff, float("nan")), ".tif", mode="target"),
    Case("image", "tiff-float-inf", _lazy(_float_tiff, float("inf")), ".tif", mode="target"),
    # latents
    Case(
        "latent",
        "w-member-bomb-1gb",
        lambda: zip_bomb({}, "w.npy", npy_claiming((1 << 28,), data=b"")),
        ".npz",
        mode="latent",
    ),  # fmt: skip
    Case(
        "latent", "w-member-understated", lambda: understated(npz(w=_w()), "w.npy", 40), ".npz", mode="latent"
    ),
    Case("latent", "w-header-claims-1e18", lambda: npz(w=npy_claiming((10**18,))), ".npz", mode="latent"),
    Case(
        "latent",
        "w-header-claims-2e9-floats",
        lambda: npz(w=npy_claiming((1, 4, 500_000_000))),
        ".npz",
        mode="latent",
    ),  # fmt: skip
    Case(
        "latent",
        "w-pickled-objects",
        lambda: npz(w=npy(np.array([{"a": 1}], dtype=object), True)),
        ".npz",
        mode="latent",
    ),  # fmt: skip
    Case("latent", "w-strings", lambda: npz(w=npy(np.array(["x" * 8] * 32))), ".npz", mode="latent"),
    Case("latent", "w-nan", lambda: npz(w=_w(float("nan"))), ".npz", mode="latent"),
    Case("latent", "w-inf", lambda: npz(w=_w(float("inf"))), ".npz", mode="latent"),
    Case("latent", "w-other-model", lambda: npz(w=_w(shape=[1, 4, 12])), ".npz", mode="latent"),
    Case("latent", "w-missing", lambda: npz(z=_w()), ".npz", mode="latent"),
    Case("latent", "class-1e9", _lazy(_latent_with_class, 10**9), ".npz", mode="latent"),
    Case("latent", "class-minus-5", _lazy(_latent_with_class, -5), ".npz", mode="latent"),
    Case("latent", "class-float", _lazy(_latent_with_class, 2.5), ".npz", mode="latent"),
    Case("latent", "class-two-values", _lazy(_latent_with_class, [1, 2]), ".npz", mode="latent"),
    Case("latent", "not-a-zip", lambda: b"PK\x03\x04" + b"\xff" * 500, ".npz", mode="latent"),
    Case("latent", "65k-members", _many_members, ".npz", mode="latent"),
    # datasets
    Case("dataset", "image-member-bomb-1gb", _image_bomb_dataset, ".zip", mode="dataset"),
    Case("dataset", "image-member-understated", _understated_image, ".zip", mode="dataset"),
    Case("dataset", "image-13000x13000", _huge_image_dataset, ".zip", mode="dataset"),
    Case("dataset", "labels-member-bomb-1gb", _labels_bomb_dataset, ".zip", mode="dataset"),
    Case("dataset", "label-1e9", _lazy(_unnamed_label, 10**9), ".zip", mode="dataset"),
    Case("dataset", "label-minus-1", _lazy(_labelled, -1), ".zip", mode="dataset"),
    Case("dataset", "label-past-class-names", _lazy(_labelled, 2), ".zip", mode="dataset"),
    Case("dataset", "label-float", _lazy(_labelled, 1.5), ".zip", mode="dataset"),
    Case("dataset", "label-true", _lazy(_labelled, True), ".zip", mode="dataset"),
    Case("dataset", "label-text", _lazy(_labelled, "1"), ".zip", mode="dataset"),
    Case("dataset", "class-names-object", _lazy(dataset, class_names={"a": 1}), ".zip", mode="dataset"),
    Case("dataset", "class-names-200k", _lazy(dataset, class_names=["c"] * 200_000), ".zip", mode="dataset"),
    Case(
        "dataset", "class-name-10k-chars", _lazy(dataset, class_names=["a" * 10_000]), ".zip", mode="dataset"
    ),
    Case(
        "dataset",
        "class-name-escapes",
        _lazy(dataset, class_names=["\x1b[2J\x1b]0;pwned\x07"]),
        ".zip",
        mode="dataset",
    ),  # fmt: skip
    Case("dataset", "class-name-bidi", _lazy(dataset, class_names=["abc\u202edcba"]), ".zip", mode="dataset"),
    Case("dataset", "labels-deep-100k", _lazy(dataset, meta=_deep_labels()), ".zip", mode="dataset"),
    Case(
        "dataset", "labels-not-utf8", _lazy(dataset, meta=b'{"labels": "\xff\xfe"}'), ".zip", mode="dataset"
    ),
    Case("dataset", "labels-not-object", _lazy(dataset, meta="[1, 2, 3]"), ".zip", mode="dataset"),
]
