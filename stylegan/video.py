"""Keyframe paths to frames, and frames to an mp4 through PyAV: H.264 in yuv420p, which every player opens, written atomically."""

from __future__ import annotations

import contextlib
import fractions
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from stylegan.errors import StyleGANError
from stylegan.images import make_grid, to_uint8
from stylegan.io.atomic import atomic_path
from stylegan.latent import Endpoint, KeyframePath, path_ws, synthesize
from stylegan.networks.generator import Generator


class VideoWriter:
    """Encode uint8 frames [H, W, C] (C = 1 or 3) into `path`; use as a context manager.

    The file appears only when the block ends without an exception (Ctrl-C included); until then frames go to
    a temporary file next to it. yuv420p needs even sizes, so an odd width or height gets one black row or
    column of padding. `crf` is x264's constant rate factor: 0 is lossless, 18 looks lossless, 23 is x264's
    default, and each +6 roughly halves the size.
    """

    def __init__(self, path: str | Path, fps: float = 30, crf: int = 18):
        self.path = Path(path)
        if self.path.suffix.lower() != ".mp4":
            raise StyleGANError(f"{self.path}: videos are written as mp4; use the .mp4 suffix")
        if not fps > 0:
            raise StyleGANError(f"frames per second must be positive, not {fps}")
        if not 0 <= crf <= 51:
            raise StyleGANError(f"crf must be between 0 and 51, not {crf}")
        self.fps = fractions.Fraction(fps).limit_denominator(1001)
        self.crf = crf
        self.frames_written = 0
        self._cleanup: contextlib.ExitStack | None = None
        self._container = None
        self._stream = None

    def __enter__(self) -> VideoWriter:
        import av

        with contextlib.ExitStack() as stack:
            tmp_path = stack.enter_context(atomic_path(self.path))
            self._container = av.open(
                str(tmp_path), mode="w", format="mp4", options={"movflags": "faststart"}
            )
            stack.callback(self._container.close)
            self._cleanup = stack.pop_all()
        return self

    def write(self, frame: np.ndarray) -> None:
        """Append one frame; the first one fixes the video's size."""
        import av

        if frame.ndim != 3 or frame.shape[2] not in (1, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 [H, W, 1 or 3], got {frame.dtype} {list(frame.shape)}")
        if frame.shape[2] == 1:
            frame = np.repeat(frame, 3, axis=2)
        height, width = frame.shape[0] + frame.shape[0] % 2, frame.shape[1] + frame.shape[1] % 2
        if self._stream is None:
            self._stream = self._container.add_stream("libx264", rate=self.fps)
            self._stream.width, self._stream.height = width, height
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {"crf": str(self.crf)}
        elif (height, width) != (self._stream.height, self._stream.width):
            raise ValueError(
                f"frame size changed from {self._stream.width}x{self._stream.height} to {width}x{height}"
            )
        if frame.shape[:2] != (height, width):
            padded = np.zeros([height, width, 3], dtype=np.uint8)
            padded[: frame.shape[0], : frame.shape[1]] = frame
            frame = padded
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        self._container.mux(self._stream.encode(video_frame))
        self.frames_written += 1

    def __exit__(self, exc_type, exc, traceback) -> bool:
        if exc_type is not None:
            return self._cleanup.__exit__(exc_type, exc, traceback)
        with self._cleanup:
            if self._stream is None:
                raise StyleGANError(f"{self.path}: no frames were written, so there is no video")
            self._container.mux(self._stream.encode(None))
        return False


def path_frames(
    G: Generator,
    cells: Sequence[Sequence[Endpoint]],  # per grid cell, its keyframes (every cell has the same number)
    path: KeyframePath,
    columns: int = 1,
    rows: int = 1,
    space: str = "w",
    psi: float = 1.0,
    cutoff: int | None = None,
    centroids: torch.Tensor | None = None,
    batch_size: int = 8,
    noise_mode: str = "const",
    noise_seed: int = 0,
    force_fp32: bool = False,
) -> Iterator[np.ndarray]:
    """The frames [H, W, C] uint8 of a keyframe path, one image per grid cell, rendered in batches. The noise
    and fp16 settings are `synthesize`'s (the visualizer exports with its view's)."""
    frames_per_batch = max(1, batch_size // len(cells))
    for start in range(0, path.num_frames, frames_per_batch):
        frames = slice(start, min(start + frames_per_batch, path.num_frames))
        with torch.no_grad():
            ws = torch.stack(
                [path_ws(G, keys, path, frames, space, psi, cutoff, centroids) for keys in cells], dim=1
            )  # [F, cells, num_ws, w_dim]
            images = to_uint8(synthesize(G, ws.flatten(0, 1), noise_mode, noise_seed, force_fp32))
        for frame_images in images.reshape(ws.shape[0], len(cells), *images.shape[1:]):
            yield make_grid(frame_images, columns, rows)
