"""Generator output to pictures: uint8 conversion, grids, and PNG files written whole."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from stylegan.errors import StyleGANError
from stylegan.io.atomic import atomic_path


def open_image(source: str | Path | bytes, name: str | None = None):
    """A decoded PIL image with its EXIF orientation applied, from a path or a file's bytes; a StyleGANError
    naming the file (`name`, default the path) when there is none or it cannot be read."""
    import PIL.Image
    import PIL.ImageOps

    name = name or str(source)
    try:
        with PIL.Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as opened:
            image = PIL.ImageOps.exif_transpose(opened)
            image.load()
    except FileNotFoundError:
        raise StyleGANError(f"{name}: no such image") from None
    except IsADirectoryError:
        raise StyleGANError(f"{name}: is a directory, not an image") from None
    except (OSError, ValueError, PIL.Image.DecompressionBombError) as error:
        raise StyleGANError(f"{name}: not an image this program can read ({error})") from None
    return image


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Images [N, C, H, W] in about [-1, 1] to uint8 [N, H, W, C], rounded as the official tools do."""
    pixels = (images.detach().to(torch.float32) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).cpu().numpy()


def parse_grid(text: str) -> tuple[int, int]:
    """'4x2' -> (columns, rows)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(part.strip().isdigit() and int(part) > 0 for part in parts):
        raise StyleGANError(f"bad grid {text!r}: write columns x rows, like 4x2")
    return int(parts[0]), int(parts[1])


def make_grid(images: np.ndarray, columns: int, rows: int) -> np.ndarray:
    """Tile uint8 images [N, H, W, C] row by row into one [rows * H, columns * W, C]; empty cells are black."""
    count, height, width, channels = images.shape
    if count > columns * rows:
        raise StyleGANError(f"a {columns}x{rows} grid holds {columns * rows} images, not {count}")
    canvas = np.zeros([rows, columns, height, width, channels], dtype=images.dtype)
    canvas.reshape(rows * columns, height, width, channels)[:count] = images
    return canvas.transpose(0, 2, 1, 3, 4).reshape(rows * height, columns * width, channels)


def save_image(pixels: np.ndarray, path: str | Path) -> Path:
    """Write one uint8 image [H, W, C] (C = 1 or 3) as PNG, atomically."""
    import PIL.Image

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise StyleGANError(f"{path}: images are written as PNG; use the .png suffix")
    image = PIL.Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)
    with atomic_path(path) as tmp_path:
        image.save(tmp_path, format="PNG")
    return path
