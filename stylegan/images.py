"""Generator output to pictures: uint8 conversion, grids, and PNG files written whole."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch

from stylegan.errors import StyleGANError
from stylegan.io.atomic import atomic_path
from stylegan.io.untrusted import escape

MAX_IMAGE_PIXELS = 50_000_000  # a 50-megapixel photo; the generator needs at most 1024 x 1024
MAX_DECODED_BYTES = 256 << 20  # what decoding one image may allocate


def open_image(source: str | Path | bytes, name: str | None = None):
    """A decoded PIL image with its EXIF orientation applied, from a path or a file's bytes; a StyleGANError
    naming the file (`name`, default the path) when there is none or it cannot be read.

    The size the file states is checked before any pixel is decoded (a 0.5 MB PNG can state 13000 x 13000), and
    float images must hold finite values."""
    import PIL.Image
    import PIL.ImageOps

    name = name or str(source)
    try:
        with warnings.catch_warnings():  # Pillow's own, higher limit warns; ours below refuses
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
            opened = PIL.Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        with opened:
            _check_decoded_size(opened, name)
            image = PIL.ImageOps.exif_transpose(opened)
            image.load()
    except FileNotFoundError:
        raise StyleGANError(f"{name}: no such image") from None
    except IsADirectoryError:
        raise StyleGANError(f"{name}: is a directory, not an image") from None
    except PIL.Image.DecompressionBombError:
        raise StyleGANError(f"{name}: states a size too large to decode here; scale it down first") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise StyleGANError(f"{name}: not an image this program can read ({escape(str(error))})") from None
    if image.mode == "F" and not np.isfinite(np.asarray(image)).all():
        raise StyleGANError(f"{name}: holds NaN or infinite pixel values")
    return image


def _check_decoded_size(image, name: str) -> None:
    width, height = image.size
    pixels = width * height
    bytes_per_band = 4 if image.mode in ("F", "I") else 2 if image.mode.startswith("I;16") else 1
    decoded = pixels * len(image.getbands()) * bytes_per_band
    if pixels > MAX_IMAGE_PIXELS or decoded > MAX_DECODED_BYTES:
        raise StyleGANError(
            f"{name}: a {width} x {height} image is too large to decode here (at most "
            f"{MAX_IMAGE_PIXELS:,} pixels and {MAX_DECODED_BYTES >> 20} MiB); scale it down first"
        )


def has_transparency(image) -> bool:
    """Whether a Pillow image carries alpha (which the project composites on white, everywhere it reads images)."""
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Images [N, C, H, W] in about [-1, 1] to uint8 [N, H, W, C], rounded as the official tools do."""
    pixels = (images.detach().to(torch.float32) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).cpu().numpy()


def from_uint8(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 images (any layout) to float32 in [-1, 1], the generator's range."""
    return pixels.to(torch.float32) / 127.5 - 1


def mix_grid(
    G,
    row_seeds: list[int],
    col_seeds: list[int],
    layers: list[int],
    class_index: int | None = None,  # None: each seed's own draw
    psi: float = 1.0,
    cutoff: int | None = None,
    centroids: torch.Tensor | None = None,
    noise_mode: str = "const",
    noise_seed: int = 0,
    batch: int = 8,
    progress=None,  # progress(done, total), per batch of images
) -> np.ndarray:
    """A style-mixing grid, uint8 [H, W, C]: the top row shows the column seeds, the left column the row seeds,
    and each cell the row seed with the ws of `layers` taken from the column seed."""
    from stylegan.latent import map_to_w, one_hot, seed_classes, style_mix, synthesize, z_from_seeds

    seeds = row_seeds + col_seeds
    with torch.no_grad():
        z = z_from_seeds(seeds, G.z_dim, G.device)
        c = one_hot(seed_classes(G, seeds, class_index), G.c_dim, G.device)
        ws = map_to_w(G, z, c, psi, cutoff, centroids)
        row_ws, col_ws = ws[: len(row_seeds)], ws[len(row_seeds) :]
        cell_ws = torch.cat([style_mix(row_ws[i : i + 1], col_ws, layers) for i in range(len(row_seeds))])
        all_ws = torch.cat([col_ws, row_ws, cell_ws])
        pixels = []
        for chunk in all_ws.split(batch):
            pixels.append(to_uint8(synthesize(G, chunk, noise_mode, noise_seed)))
            if progress is not None:
                progress(sum(len(part) for part in pixels), len(all_ws))
    pixels = np.concatenate(pixels)
    rows, cols = len(row_seeds), len(col_seeds)
    blank = np.zeros_like(pixels[:1])
    row_images, cell_images = pixels[cols : cols + rows], pixels[cols + rows :]
    tiles = [blank, pixels[:cols]]
    for i in range(rows):
        tiles += [row_images[i : i + 1], cell_images[i * cols : (i + 1) * cols]]
    return make_grid(np.concatenate(tiles), cols + 1, rows + 1)


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
