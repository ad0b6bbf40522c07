"""Bounded reading of zip members and NumPy arrays that a stranger may have written.

A zip member states its size and then inflates to whatever its data says, and a `.npy` header states a shape
that numpy allocates before it reads a byte. Everything here checks the stated size against a caller's limit
(and an array's against the bytes actually there) before reading, and reads at most the limit, so a 4 MB
member that inflates to 4 GB or a header claiming 10^18 elements costs nothing but an error message.
"""

from __future__ import annotations

import io
import zipfile
from typing import BinaryIO

import numpy as np

from stylegan.errors import StyleGANError
from stylegan.io.untrusted import escape

CHUNK = 1 << 20
NPY_HEADER_LIMIT = 1 << 16  # numpy itself refuses headers above 10,000 bytes by default
ARRAY_DTYPE_KINDS = "biuf"  # bool, signed, unsigned, float: never objects, strings or structures


def read_member(archive: zipfile.ZipFile, name: str, limit: int, where: str) -> bytes:
    """The bytes of member `name`, refused when its stated or its actual inflated size passes `limit`."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise StyleGANError(f"{where}: has no member {escape(name)}") from None
    if info.file_size > limit:
        raise StyleGANError(
            f"{where}: member {escape(name)} inflates to {info.file_size:,} bytes (at most {limit:,} are read)"
        )
    chunks, total = [], 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(min(CHUNK, limit + 1 - total)):
                chunks.append(chunk)
                total += len(chunk)
                if total > limit:
                    raise StyleGANError(f"{where}: member {escape(name)} inflates past {limit:,} bytes")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as error:
        raise StyleGANError(f"{where}: member {escape(name)} cannot be read ({escape(str(error))})") from None
    return b"".join(chunks)


def read_npy(stream: BinaryIO, size: int, where: str, max_bytes: int) -> np.ndarray:
    """A plain numeric array from a `.npy` stream of `size` bytes, its header checked before any allocation:
    a numeric dtype, and a data size that fits both `max_bytes` and the bytes the stream holds."""
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version in ((2, 0), (3, 0)):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(
                stream, max_header_size=NPY_HEADER_LIMIT
            )
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, OSError, EOFError, SyntaxError) as error:
        raise StyleGANError(f"{where}: not a .npy array ({escape(str(error))})") from None
    if dtype.kind not in ARRAY_DTYPE_KINDS or dtype.hasobject or dtype.fields is not None:
        raise StyleGANError(f"{where}: holds {escape(str(dtype))} values; only numbers are read")
    count = 1
    for length in shape:
        count *= length
    nbytes = count * dtype.itemsize
    available = size - stream.tell()
    if nbytes > max_bytes:
        raise StyleGANError(f"{where}: a {list(shape)} array is {nbytes:,} bytes (at most {max_bytes:,})")
    if nbytes > available:
        raise StyleGANError(
            f"{where}: a {list(shape)} array needs {nbytes:,} bytes, the file holds {available:,}"
        )
    data = stream.read(nbytes)
    array = np.frombuffer(data, dtype=dtype, count=count)
    return array.reshape(shape[::-1]).T if fortran_order else array.reshape(shape)


def read_npz(path, members: dict[str, int], kind: str = ".npz") -> dict[str, np.ndarray]:
    """The arrays `members` names ({name: most bytes}) that an `.npz` at `path` holds; absent ones are left out.
    Nothing else in the archive is read. `kind` names the file in messages ("no such latent file")."""
    where = str(path)
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise StyleGANError(f"{where}: no such {kind} file") from None
    except IsADirectoryError:
        raise StyleGANError(f"{where}: is a directory, not a {kind} file") from None
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise StyleGANError(
            f"{where}: not a {kind} file, which is an .npz archive ({escape(str(error))})"
        ) from None
    arrays = {}
    with archive:
        present = set(archive.namelist())
        for name, max_bytes in members.items():
            member = f"{name}.npy"
            if member not in present:
                continue
            header_room = NPY_HEADER_LIMIT + 16
            data = read_member(archive, member, max_bytes + header_room, where)
            arrays[name] = read_npy(io.BytesIO(data), len(data), f"{where}: {member}", max_bytes)
    return arrays
