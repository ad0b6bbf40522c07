"""Write files whole or not at all: into a temporary name next to the destination, renamed when complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from stylegan.errors import StyleGANError
from stylegan.io.untrusted import escape


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in `path`'s folder; when the block ends normally it replaces `path`.

    On any exception, Ctrl-C included, the temporary file is removed and an existing `path` is untouched.
    A folder that cannot be created or written raises a StyleGANError naming the path.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(
            prefix=f".{path.stem}.", suffix=f"{path.suffix}.tmp", dir=path.parent
        )
    except OSError as error:
        raise StyleGANError(
            f"{escape(str(path), 300)}: cannot write there ({escape(error.strerror or str(error))})"
        ) from None
    os.close(handle)
    tmp_path = Path(tmp_name)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes it private; the result gets the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove the temporary files that `atomic_path` left in `folder` when its process was killed (SIGKILL
    gives it no chance to clean up); returns what was removed. Call it only where no other writer is busy."""
    removed = []
    for path in Path(folder).glob(".*.tmp"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
