"""Images and videos: uint8 conversion, grids, atomic PNG and mp4 writing, keyframe-path frames."""

import av
import numpy as np
import PIL.Image
import pytest
import torch
from tiny import tiny_generator

from stylegan.errors import StyleGANError
from stylegan.images import make_grid, parse_grid, save_image, to_uint8
from stylegan.latent import (
    Endpoint,
    class_from_seed,
    keyframe_path,
    map_to_w,
    one_hot,
    synthesize,
    z_from_seeds,
)
from stylegan.video import VideoWriter, path_frames


def _read_video(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        return frames, stream.average_rate, stream.codec_context.name, stream.codec_context.pix_fmt


def _gradient_frames(count, height, width):
    """Smooth moving colour ramps: easy to compress, so decoded frames stay close to the originals."""
    y, x = np.mgrid[0:height, 0:width]
    return [
        np.stack([(x * 4 + 6 * i) % 256, (y * 4) % 256, np.full_like(x, 30 * i % 256)], axis=2).astype(
            np.uint8
        )
        for i in range(count)
    ]


def test_to_uint8_rounds_like_the_official_tools():
    images = torch.tensor([-1.0, -0.5, 0.0, 0.999, 1.0, 3.0]).reshape(1, 1, 2, 3).repeat(1, 3, 1, 1)
    pixels = to_uint8(images)
    assert pixels.shape == (1, 2, 3, 3) and pixels.dtype == np.uint8
    assert pixels[0, :, :, 0].reshape(-1).tolist() == [0, 64, 128, 255, 255, 255]


def test_grids_tile_row_by_row():
    images = np.arange(5)[:, None, None, None].repeat(2, 1).repeat(3, 2).repeat(1, 3).astype(np.uint8) + 1
    grid = make_grid(images, columns=3, rows=2)
    assert grid.shape == (4, 9, 1)
    assert grid[0, ::3, 0].tolist() == [1, 2, 3] and grid[2, ::3, 0].tolist() == [4, 5, 0]
    assert parse_grid("4x2") == (4, 2) and parse_grid("1X1") == (1, 1)
    for bad in ("4", "0x2", "ax2", "4x2x1"):
        with pytest.raises(StyleGANError, match="columns x rows"):
            parse_grid(bad)
    with pytest.raises(StyleGANError, match="holds 4 images, not 5"):
        make_grid(images, 2, 2)


def test_save_image_writes_png_atomically(tmp_path):
    pixels = np.random.RandomState(0).randint(0, 256, size=(5, 7, 3)).astype(np.uint8)
    path = save_image(pixels, tmp_path / "sub" / "a.png")
    np.testing.assert_array_equal(np.asarray(PIL.Image.open(path)), pixels)
    gray = save_image(pixels[:, :, :1], tmp_path / "g.png")
    assert PIL.Image.open(gray).mode == "L"
    with pytest.raises(StyleGANError, match="PNG"):
        save_image(pixels, tmp_path / "a.jpg")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.png", "g.png", "sub"]


def test_video_has_the_frames_size_and_rate_written(tmp_path):
    frames = _gradient_frames(12, 33, 47)  # odd sizes are padded to even ones for yuv420p
    with VideoWriter(tmp_path / "v.mp4", fps=24, crf=10) as writer:
        for frame in frames:
            writer.write(frame)
    decoded, rate, codec, pix_fmt = _read_video(tmp_path / "v.mp4")
    assert len(decoded) == 12 and decoded[0].shape == (34, 48, 3)
    assert rate == 24 and codec == "h264" and pix_fmt == "yuv420p"
    error = np.abs(decoded[5][:33, :47].astype(int) - frames[5].astype(int)).mean()
    assert error < 4
    assert list(tmp_path.iterdir()) == [tmp_path / "v.mp4"]


def test_fractional_frame_rates_and_grayscale_frames(tmp_path):
    with VideoWriter(tmp_path / "v.mp4", fps=29.97) as writer:
        for frame in _gradient_frames(3, 16, 16):
            writer.write(frame[:, :, :1])
    decoded, rate, _, _ = _read_video(tmp_path / "v.mp4")
    assert len(decoded) == 3 and abs(float(rate) - 29.97) < 1e-3


def test_an_interrupted_video_leaves_nothing_and_keeps_the_previous_file(tmp_path):
    path = tmp_path / "v.mp4"
    path.write_bytes(b"previous")
    with pytest.raises(KeyboardInterrupt), VideoWriter(path) as writer:
        writer.write(_gradient_frames(1, 8, 8)[0])
        raise KeyboardInterrupt
    assert path.read_bytes() == b"previous"
    assert list(tmp_path.iterdir()) == [path]
    with pytest.raises(StyleGANError, match="no frames"), VideoWriter(tmp_path / "empty.mp4"):
        pass
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [(dict(path="v.avi"), "mp4"), (dict(fps=0), "positive"), (dict(crf=60), "crf")],
)
def test_bad_video_settings(tmp_path, arguments, message):
    arguments = {"path": "v.mp4", **arguments}
    arguments["path"] = tmp_path / arguments["path"]
    with pytest.raises(StyleGANError, match=message):
        VideoWriter(**arguments)


def test_path_frames_are_grids_of_the_keyframe_images():
    G = tiny_generator("stylegan-xl", c_dim=5)
    cells = [
        [Endpoint(seed=1, class_index=0), Endpoint(seed=2, class_index=1)],
        [Endpoint(seed=3), Endpoint(seed=4)],
    ]
    path = keyframe_path(2, 4, "linear", loop=True)
    frames = list(path_frames(G, cells, path, columns=2, rows=1, psi=0.7, batch_size=3))
    assert len(frames) == 8 and frames[0].shape == (16, 32, 3)
    with torch.no_grad():
        z = z_from_seeds([1, 3, 2], G.z_dim)
        c = one_hot([0, class_from_seed(3, G.c_dim), 1], G.c_dim)  # seed 3 has no class: its official draw
        expected = to_uint8(synthesize(G, map_to_w(G, z, c, psi=0.7)))
    np.testing.assert_array_equal(frames[0], np.concatenate([expected[0], expected[1]], axis=1))
    np.testing.assert_array_equal(frames[4][:, :16], expected[2])
    steps = [np.abs(frames[i + 1].astype(int) - frames[i].astype(int)).mean() for i in range(7)]
    wrap = np.abs(frames[0].astype(int) - frames[7].astype(int)).mean()
    assert wrap <= 2 * max(steps)  # a looping video's last frame leads back to its first


def test_written_files_get_the_usual_permissions(tmp_path):
    import os

    path = save_image(np.zeros([2, 2, 3], dtype=np.uint8), tmp_path / "p.png")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
