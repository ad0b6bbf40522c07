"""`stylegan generate`, `mix`, `video` and `centroids`: outputs equal the library's, and errors are one line."""

import av
import numpy as np
import PIL.Image
import pytest
import torch
from click.testing import CliRunner
from tiny import drawn, tiny_generator

import stylegan
from stylegan.images import to_uint8
from stylegan.latent import (
    class_from_seed,
    map_to_w,
    one_hot,
    parse_layers,
    style_mix,
    synthesize,
    z_from_seeds,
)
from stylegan_cli import main


@pytest.fixture(scope="module")
def unconditional(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "uncond.safetensors"
    return stylegan.save(tiny_generator("stylegan-xl", c_dim=0), path)


def _run(*arguments):
    result = CliRunner().invoke(main, [str(argument) for argument in arguments])
    return result


def _ok(*arguments):
    result = _run(*arguments)
    assert result.exit_code == 0, result.output
    return result


def _expected(path, seeds, classes, psi=1.0, cutoff=None):
    return drawn(stylegan.load(path), seeds, classes, psi, cutoff)


def _png(path):
    return np.asarray(PIL.Image.open(path))


# generate --------------------------------------------------------------------------------------------------


def test_generate_writes_one_image_per_seed_and_a_grid(model, tmp_path):
    result = _ok("generate", "-n", model, "--seeds", "0-2,7", "--class", "dog", "--trunc", 0.7, "--cutoff", 4,
                 "--outdir", tmp_path, "--grid", "2x2", "--batch", 3)  # fmt: skip
    assert f"wrote 4 images to {tmp_path}" in result.output
    expected, _ = _expected(model, [0, 1, 2, 7], [1] * 4, psi=0.7, cutoff=4)
    names = [
        "seed0000-class0001.png",
        "seed0001-class0001.png",
        "seed0002-class0001.png",
        "seed0007-class0001.png",
    ]
    for name, image in zip(names, expected, strict=True):
        np.testing.assert_array_equal(_png(tmp_path / name), image)
    grid = _png(tmp_path / "grid.png")
    assert grid.shape == (32, 32, 3)
    np.testing.assert_array_equal(grid[16:, :16], expected[2])


def test_generate_is_repeatable_and_uses_the_seeds_class_by_default(model, tmp_path):
    _ok("generate", "-n", model, "--seeds", "3", "--outdir", tmp_path / "a")
    _ok("generate", "-n", model, "--seeds", "3", "--outdir", tmp_path / "b")
    class_index = class_from_seed(3, 5)
    name = f"seed0003-class{class_index:04d}.png"
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    np.testing.assert_array_equal(_png(tmp_path / "a" / name), _expected(model, [3], [class_index])[0][0])


def test_generate_with_centroids_from_the_centroids_command(model, tmp_path):
    centroids = tmp_path / "c.npy"
    result = _ok("centroids", "-n", model, "--samples", 300, "--centroids", 4, "--out", centroids)
    assert "4 centroids of 32 dimensions" in result.output
    assert np.load(centroids).shape == (4, 32)
    _ok("generate", "-n", model, "--seeds", 1, "--class", 2, "--trunc", 0, "--centroids", centroids,
        "--outdir", tmp_path)  # fmt: skip
    G = stylegan.load(model)
    nearest = torch.from_numpy(np.load(centroids))
    w = map_to_w(G, z_from_seeds([1], G.z_dim), one_hot([2], 5))[0, 0]
    center = nearest[(nearest - w).norm(dim=1).argmin()]
    expected = to_uint8(synthesize(G, center.expand(1, G.num_ws, -1)))[0]
    np.testing.assert_array_equal(_png(tmp_path / "seed0001-class0002.png"), expected)


def test_generate_on_an_unconditional_model(unconditional, tmp_path):
    _ok("generate", "-n", unconditional, "--seeds", "4,5", "--outdir", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed0004.png", "seed0005.png"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--seeds", "1-x"], "bad seed list '1-x'"),
        (["--seeds", "1", "--class", 7], "class 7 is out of range: this model has classes 0 to 4"),
        (["--seeds", "1", "--class", "zebra"], "no class is called 'zebra'"),
        (["--seeds", "1-9", "--grid", "2x2"], "holds 4 images, not 9"),
        (["--seeds", "1", "--cutoff", 99], "cutoff 99 is out of range"),
        (["--seeds", "1", "--centroids", "missing.npy"], "no such centroids file"),
    ],
)
def test_generate_errors_are_one_line(model, tmp_path, arguments, message):
    result = _run("generate", "-n", model, "--outdir", tmp_path / "out", *arguments)
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and message in result.output, result.output
    assert result.output.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_class_for_an_unconditional_model_is_an_error(unconditional, tmp_path):
    result = _run("generate", "-n", unconditional, "--seeds", 1, "--class", 1, "--outdir", tmp_path)
    assert result.exit_code == 2 and "not class-conditional" in result.output


def test_an_unwritable_output_is_an_error(model, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    result = _run("generate", "-n", model, "--seeds", 1, "--outdir", blocker / "out")
    assert result.exit_code == 2 and "cannot write there" in result.output


def test_missing_model_and_cuda_errors(tmp_path):
    result = _run("generate", "-n", tmp_path / "nope.pkl", "--seeds", 1, "--outdir", tmp_path)
    assert result.exit_code == 2 and "no such file" in result.output
    if not torch.cuda.is_available():
        result = _run(
            "generate", "-n", "stylegan-xl-tiny", "--seeds", 1, "--outdir", tmp_path, "--device", "cuda"
        )
        assert result.exit_code == 2 and "CUDA is not available" in result.output


# mix -------------------------------------------------------------------------------------------------------


def test_mix_grid_has_the_seeds_on_its_edges_and_the_mixes_inside(model, tmp_path):
    out = tmp_path / "mix.png"
    result = _ok("mix", "-n", model, "--rows", "1,2,3", "--cols", "10,11", "--layers", "middle", "--class", 0,
                 "--out", out)  # fmt: skip
    assert "3 rows x 2 columns" in result.output
    grid = _png(out)
    assert grid.shape == (4 * 16, 3 * 16, 3)
    images, ws = _expected(model, [1, 2, 3, 10, 11], [0] * 5)
    G = stylegan.load(model)
    assert not grid[:16, :16].any()  # the empty corner
    np.testing.assert_array_equal(grid[:16, 16:32], images[3])  # column seed 10
    np.testing.assert_array_equal(grid[32:48, :16], images[1])  # row seed 2
    mixed = style_mix(ws[1:2], ws[4:5], parse_layers("middle", G.num_ws))
    np.testing.assert_array_equal(grid[32:48, 32:48], to_uint8(synthesize(G, mixed))[0])


def test_mix_rejects_an_unknown_layer_group(model, tmp_path):
    result = _run(
        "mix", "-n", model, "--rows", 1, "--cols", 2, "--layers", "medium", "--out", tmp_path / "m.png"
    )
    assert result.exit_code == 2 and "unknown layer group 'medium'" in result.output
    assert not (tmp_path / "m.png").exists()


# video -----------------------------------------------------------------------------------------------------


def _decode(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24").astype(int) for frame in container.decode(stream)]
        return frames, stream.average_rate


def test_video_has_the_expected_frames_size_and_rate(model, tmp_path):
    out = tmp_path / "v.mp4"
    result = _ok("video", "-n", model, "--seeds", "0,5,9,1,2,3", "--classes", "0,1,2,cat,dog,owl", "--grid", "2x1",
                 "--frames-per-transition", 6, "--easing", "linear", "--fps", 12, "--crf", 12, "--out", out)  # fmt: skip
    assert "13 frames" in result.output
    frames, rate = _decode(out)
    assert len(frames) == 13 and frames[0].shape == (16, 32, 3) and rate == 12
    expected, _ = _expected(model, [0, 9], [0, 2])
    assert np.abs(frames[0][:, :16] - expected[0]).mean() < 6  # the first keyframe (after lossy coding)
    assert np.abs(frames[-1][:, :16] - expected[1]).mean() < 6  # the last keyframe


def test_looping_video_returns_to_its_first_frame(model, tmp_path):
    out = tmp_path / "loop.mp4"
    _ok("video", "-n", model, "--seeds", "1,2,3", "--classes", 4, "--loop", "--space", "z",
        "--frames-per-transition", 8, "--out", out)  # fmt: skip
    frames, rate = _decode(out)
    assert len(frames) == 24 and rate == 30
    steps = [np.abs(frames[i + 1] - frames[i]).mean() for i in range(len(frames) - 1)]
    far = np.abs(frames[12] - frames[0]).mean()
    wrap = np.abs(frames[0] - frames[-1]).mean()
    assert wrap < far / 2 and wrap < 3 * np.mean(steps)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--seeds", "1,2,3", "--grid", "2x1"], "needs a multiple of 2 seeds, got 3"),
        (["--seeds", "1,2,3", "--classes", "1,2"], "one class per seed (3) or one for all, not 2"),
        (["--seeds", "1,2", "--classes", "9"], "class 9 is out of range"),
        (["--seeds", "1,2", "--fps", 0], "frames per second must be positive"),
    ],
)
def test_video_errors_are_one_line(model, tmp_path, arguments, message):
    out = tmp_path / "v.mp4"
    result = _run("video", "-n", model, "--out", out, *arguments)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_video_needs_the_mp4_suffix(model, tmp_path):
    result = _run("video", "-n", model, "--seeds", "1,2", "--out", tmp_path / "v.gif")
    assert result.exit_code == 2 and "use the .mp4 suffix" in result.output


def test_ctrl_c_during_a_video_leaves_no_file(model, tmp_path, monkeypatch):
    import stylegan.video

    real_frames = stylegan.video.path_frames

    def interrupted(*args, **kwargs):
        for index, frame in enumerate(real_frames(*args, **kwargs)):
            if index == 3:
                raise KeyboardInterrupt
            yield frame

    monkeypatch.setattr(stylegan.video, "path_frames", interrupted)
    out = tmp_path / "v.mp4"
    result = _run("video", "-n", model, "--seeds", "1,2", "--frames-per-transition", 10, "--out", out)
    assert result.exit_code == 130 and "interrupted" in result.output
    assert list(tmp_path.iterdir()) == []
