"""The visualizer's renderer, without a window: every argument path, errors reported, not raised, and video
export on its own copy of the generator."""

import dataclasses
import threading

import numpy as np
import PIL.Image
import pytest
import torch
from tiny import drawn, tiny_generator

import stylegan
from stylegan.images import to_uint8
from stylegan.latent import (
    Endpoint,
    class_from_seed,
    keyframe_path,
)
from stylegan.video import VideoWriter, path_frames
from stylegan.view import (
    InterpolationEnd,
    InversionJob,
    ViewArgs,
    activation_image,
    load_session,
    save_session,
)
from viz.renderer import Renderer, RenderResult


@pytest.fixture(scope="module")
def G(model):  # noqa: N802 (the conventional name of a generator)
    return stylegan.load(model)


@pytest.fixture
def renderer():
    return Renderer()


def _cli_image(G, seed, class_index, psi=1.0, cutoff=None):
    """What `stylegan generate` draws for these numbers."""
    return drawn(G, [seed], [class_index], psi, cutoff)[0][0]


def _render(renderer, model, **args) -> RenderResult:
    result = renderer.render(ViewArgs(model=model, **args))
    assert result.error is None, result.traceback or result.error
    return result


def test_a_seed_renders_what_the_command_line_draws(renderer, model, G):
    result = _render(renderer, model, seed_x=3, class_index=2, psi=0.7, cutoff=3)
    np.testing.assert_array_equal(result.image, _cli_image(G, 3, 2, 0.7, 3))
    default_class = _render(renderer, model, seed_x=4)
    np.testing.assert_array_equal(default_class.image, _cli_image(G, 4, class_from_seed(4, 5)))
    assert result.model.num_ws == G.num_ws and result.model.c_dim == 5
    assert result.layers[0].name == "input" and result.args.seed_x == 3


def test_an_unknown_argument_is_an_error(renderer, model):
    with pytest.raises(TypeError):
        ViewArgs(model=model, sed=3)
    with pytest.raises(TypeError, match="ViewArgs"):
        renderer.render(dict(model=model))


def test_between_seeds_the_ws_blend(renderer, model, G):
    half = _render(renderer, model, seed_x=3.5, class_index=1).ws
    three = _render(renderer, model, seed_x=3, class_index=1).ws
    four = _render(renderer, model, seed_x=4, class_index=1).ws
    np.testing.assert_allclose(half, (three + four) / 2, atol=1e-6)
    below = _render(renderer, model, seed_x=3, seed_y=1, class_index=1).ws  # the grid's next row: seed 103
    np.testing.assert_array_equal(below, _render(renderer, model, seed_x=103, class_index=1).ws)


def test_truncation_goes_to_the_class_centre(renderer, model, G):
    ws = _render(renderer, model, seed_x=5, class_index=3, psi=0.0).ws
    np.testing.assert_allclose(ws, G.mapping.w_avg[3].expand(G.num_ws, -1).numpy(), atol=1e-6)


def test_mixing_touches_only_the_chosen_ws(renderer, model):
    plain = _render(renderer, model, seed_x=1, class_index=0).ws
    other = _render(renderer, model, seed_x=9, class_index=4).ws
    mixed = _render(renderer, model, seed_x=1, class_index=0, mix_enabled=True, mix_seed=9, mix_class=4,
                    mix_layers=[1, 3]).ws  # fmt: skip
    np.testing.assert_array_equal(mixed[[0, 2, 4, 5]], plain[[0, 2, 4, 5]])
    np.testing.assert_array_equal(mixed[[1, 3]], other[[1, 3]])


@pytest.mark.parametrize("space", ["w", "z"])
def test_interpolation_endpoints(renderer, model, G, space):
    a, b = InterpolationEnd(seed=2, class_index=1), InterpolationEnd(seed=7, class_index=3)
    common = dict(interp_enabled=True, interp_a=a, interp_b=b, interp_space=space, psi=0.8)
    start = _render(renderer, model, interp_t=0.0, **common).image
    end = _render(renderer, model, interp_t=1.0, **common).image
    middle = _render(renderer, model, interp_t=0.5, **common).image
    np.testing.assert_array_equal(start, _cli_image(G, 2, 1, 0.8))
    np.testing.assert_array_equal(end, _cli_image(G, 7, 3, 0.8))
    assert not np.array_equal(middle, start) and not np.array_equal(middle, end)


def test_a_given_latent_replaces_the_seed(renderer, model, G):
    ws = np.random.RandomState(0).randn(G.num_ws, G.w_dim).astype(np.float32)
    result = _render(renderer, model, latent_ws=ws)
    np.testing.assert_array_equal(result.image, to_uint8(G.synthesis(torch.from_numpy(ws)[None]))[0])
    bad = renderer.render(ViewArgs(model=model, latent_ws=ws[:2]))
    assert "shape" in bad.error and bad.image is None and not bad.model_failed


def test_layer_activations_and_their_spectrum(renderer, model):
    layer = _render(renderer, model).layers[2]
    result = _render(renderer, model, layer=layer.name, channel=1)
    assert result.image.shape == (layer.size, layer.size, 3)
    assert result.layer_shape == [layer.channels, layer.size, layer.size]
    assert result.layer_dtype == "float32"
    with_fft = _render(renderer, model, layer=layer.name, fft=True, rgb=False)
    assert with_fft.image.shape == (layer.size, 2 * layer.size, 3)
    missing = renderer.render(ViewArgs(model=model, layer="L99_no_such_layer"))
    assert "no layer called" in missing.error


def test_the_layer_list_says_float32_where_float32_runs(renderer, model, G):
    assert any(row.fp16 for row in G.layers())  # the model marks some layers fp16...
    result = _render(renderer, model, fp16=True, layer=G.layers()[-2].name)
    assert result.layer_dtype == "float32"  # ...which on the CPU run in float32
    assert not any(layer.fp16 for layer in result.layers)


def test_activation_view_options():
    x = torch.zeros(1, 4, 8, 8)
    x[0, 1] = 0.25
    grey = activation_image(x, channel=1, rgb=False, normalize=True)
    assert grey.shape == (8, 8, 3) and (grey == 255).all()  # normalised to the largest magnitude: 1.0
    dim = activation_image(x, channel=1, rgb=False, normalize=False, brightness_db=-20)
    assert (dim == int(0.25 * 0.1 * 127.5 + 128)).all()


def test_rotation_changes_the_image_of_an_alias_free_model(renderer, model):
    plain = _render(renderer, model, seed_x=1, class_index=0).image
    turned = _render(renderer, model, seed_x=1, class_index=0, rotate=0.5, translate_x=0.1).image
    again = _render(renderer, model, seed_x=1, class_index=0).image
    assert not np.array_equal(plain, turned) and np.array_equal(plain, again)


def test_errors_are_reported_and_the_renderer_keeps_working(renderer, model, tmp_path):
    corrupt = tmp_path / "broken.pkl"
    corrupt.write_bytes(b"\x80\x04garbage")
    result = renderer.render(ViewArgs(model=str(corrupt)))
    assert result.error and result.image is None and result.model_failed
    out_of_range = renderer.render(ViewArgs(model=model, class_index=99))
    assert "out of range" in out_of_range.error and not out_of_range.model_failed
    assert _render(renderer, model).image.shape == (16, 16, 3)
    assert "no such file" in renderer.render(ViewArgs(model=str(tmp_path / "none.pkl"))).error


def test_tuned_generators_are_released_when_no_longer_shown(renderer, model):
    for run in range(3):
        renderer.register(f"pti:t.png:{run}", stylegan.load(model))
    assert _render(renderer, model).image is not None  # the base model shown again: only the newest is kept
    assert list(renderer._registered) == ["pti:t.png:2"]
    assert _render(renderer, "pti:t.png:2").image is not None
    renderer.register("pti:t.png:3", stylegan.load(model))
    assert _render(renderer, "pti:t.png:3").image is not None
    assert list(renderer._registered) == ["pti:t.png:3"]
    assert "no such file" in renderer.render(ViewArgs(model="pti:t.png:0")).error


def test_a_paused_inversion_keeps_its_progress(renderer, model, G, tmp_path):
    PIL.Image.fromarray(_cli_image(G, 3, 2)).save(tmp_path / "target.png")
    job = InversionJob(target=str(tmp_path / "target.png"), steps=200, seed=0, class_spec=2)
    for _ in range(3):
        running = _render(renderer, model, inversion=job).inversion
    paused = _render(renderer, model, inversion=dataclasses.replace(job, paused=True)).inversion
    assert paused.step == running.step > 0
    again = _render(renderer, model, inversion=dataclasses.replace(job, paused=True)).inversion
    assert again.step == paused.step
    resumed = _render(renderer, model, inversion=job).inversion
    assert resumed.step > paused.step


def test_inversion_runs_step_by_step_and_ends_as_a_latent(renderer, model, G, tmp_path):
    PIL.Image.fromarray(_cli_image(G, 3, 2)).save(tmp_path / "target.png")
    job = InversionJob(
        target=str(tmp_path / "target.png"), space="w+", steps=12, pti_steps=3, seed=0, class_spec=2
    )
    steps = []
    for _ in range(50):
        result = _render(renderer, model, inversion=job)
        report = result.inversion
        steps.append((report.phase, report.step))
        if report.done:
            break
    assert report.done and steps[0][1] >= 1 and ("tuning", 3) in steps
    assert result.image.shape == (16, 16, 3) and report.psnr > 15
    assert report.ws.shape == (G.num_ws, G.w_dim) and report.class_index == 2
    tuned = _render(renderer, report.tuned_model, latent_ws=report.ws)
    assert tuned.image.shape == (16, 16, 3)
    paused = _render(renderer, model, inversion=dataclasses.replace(job, run=2, paused=True)).inversion
    assert paused.step == 0


def test_sessions_round_trip_and_render_from_the_command_line(renderer, model, tmp_path):
    from click.testing import CliRunner

    from stylegan.errors import StyleGANError
    from stylegan_cli import main

    ws = np.random.RandomState(1).randn(6, 32).astype(np.float32)
    args = ViewArgs(model=model, latent_ws=ws, psi=0.5, mix_enabled=True, mix_seed=3, mix_layers=[2, 4],
                    interp_a=InterpolationEnd(seed=0, ws=ws))  # fmt: skip
    path = save_session(tmp_path / "look.json", args, {"keyframes": [dict(seed=1, class_index=2, ws=None)]})
    loaded, panels = load_session(path)
    np.testing.assert_array_equal(loaded.latent_ws, ws)
    assert loaded.mix_layers == [2, 4] and panels["keyframes"][0]["class_index"] == 2
    expected = renderer.render(args).image
    result = CliRunner().invoke(main, ["generate", "--session", str(path), "--outdir", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.asarray(PIL.Image.open(tmp_path / "out" / "look.png")), expected)
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(StyleGANError, match="not a session file"):
        load_session(tmp_path / "bad.json")
    bad = CliRunner().invoke(
        main, ["generate", "--session", str(tmp_path / "bad.json"), "--outdir", str(tmp_path)]
    )
    assert bad.exit_code == 2 and "not a session file" in bad.output
    missing = CliRunner().invoke(main, ["generate", "--outdir", str(tmp_path)])
    assert missing.exit_code == 2 and "--network and --seeds" in missing.output


# -- video export -----------------------------------------------------------------------------------------------


def _decoded(path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_video_export_renders_the_views_settings_on_its_own_copy(tmp_path):
    """A StyleGAN2 model (noise inputs) turned and exported with random noise from seed 5, while frames of other
    rotations render on the shared generator: the video is what path_frames draws with exactly those settings."""
    model = str(stylegan.save(tiny_generator("stylegan2", c_dim=0), tmp_path / "sg2.safetensors"))
    renderer = Renderer()
    view = ViewArgs(model=model, psi=0.6, noise_mode="random", noise_seed=5)
    assert renderer.render(view).error is None
    keyframes = [InterpolationEnd(seed=1), InterpolationEnd(seed=2)]
    stop = threading.Event()

    def keep_rendering():
        turn = 0
        while not stop.is_set():
            turn += 1
            renderer.render(view.replace(noise_seed=turn % 7, psi=1.0))

    other = threading.Thread(target=keep_rendering)
    other.start()
    try:
        export = renderer.export_video(view, keyframes, tmp_path / "out.mp4", frames_per_transition=4, fps=10,
                                       loop=False)  # fmt: skip
        view.psi = 0.1  # the view changes after the export began: the export keeps what it started with
        export.join(timeout=120)
    finally:
        stop.set()
        other.join()
    assert export.finished and not export.error and export.done == export.total == 5
    G = stylegan.load(model)
    path = keyframe_path(2, 4, "linear", loop=False)
    with VideoWriter(tmp_path / "expected.mp4", fps=10) as writer:
        for frame in path_frames(G, [[Endpoint(seed=1), Endpoint(seed=2)]], path, psi=0.6, noise_mode="random",
                                 noise_seed=5):  # fmt: skip
            writer.write(frame)
    for got, expected in zip(
        _decoded(tmp_path / "out.mp4"), _decoded(tmp_path / "expected.mp4"), strict=True
    ):
        np.testing.assert_array_equal(got, expected)


def test_a_cancelled_export_leaves_no_file(renderer, model, tmp_path):
    keyframes = [InterpolationEnd(seed=1), InterpolationEnd(seed=2)]
    export = renderer.export_video(ViewArgs(model=model), keyframes, tmp_path / "long.mp4", 5000)
    export.cancel()
    export.join(timeout=60)
    assert export.finished and export.cancelled and export.done < export.total
    assert not list(tmp_path.glob("*.mp4"))


def test_a_render_worker_that_dies_is_restarted_with_a_message(model):
    from viz.async_renderer import AsyncRenderer

    class Dying(Renderer):
        deaths = 1

        def render(self, args):
            if Dying.deaths:
                Dying.deaths -= 1
                raise SystemExit("worker killed")  # escapes Renderer.render's own error handling
            return super().render(args)

    worker = AsyncRenderer(Dying(), threaded=True)
    try:
        worker.set_args(ViewArgs(model=model, seed_x=1.0))
        worker._thread.join(timeout=30)
        assert not worker._thread.is_alive()
        message = worker.result()
        assert message.image is None and "render worker stopped (SystemExit: worker killed)" in message.error
        assert worker.restarts == 1 and worker._thread.is_alive()
        worker.set_args(ViewArgs(model=model, seed_x=1.0))
        assert worker.result_ready.wait(timeout=60)
        result = worker.result()
        assert result.error is None and result.image is not None
    finally:
        worker.close()
