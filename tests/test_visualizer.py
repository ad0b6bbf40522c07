"""The visualizer window under Xvfb: what is on screen, the panels driven by mouse and keyboard events delivered
to the window (the callbacks GLFW calls), file drops, errors, settings."""

import json
import time
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from tiny import tiny_generator
from window import (
    button,
    click,
    frames_until,
    image_on_screen,
    move,
    only_panels,
    open_window,
    point,
    press,
    settle,
    type_text,
)

import stylegan
from stylegan.images import to_uint8
from stylegan.latent import map_to_w, one_hot, synthesize, z_from_seeds


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    G = tiny_generator("stylegan-xl", c_dim=5)
    return str(stylegan.save(G, tmp_path_factory.mktemp("m") / "tiny.safetensors", class_names=list("abcde")))


@pytest.fixture
def app(display, model, tmp_path, monkeypatch):
    visualizer = open_window(model, tmp_path, monkeypatch)
    yield visualizer
    if visualizer.handle:
        visualizer.close()


# -- what is on screen ------------------------------------------------------------------------------------------


def test_the_window_shows_the_generators_image_and_class_search_picks_a_class(app, model):
    result = settle(app)
    pixels = app.frame(read_back=True)
    assert pixels.shape == (800, 1200, 3)
    np.testing.assert_array_equal(image_on_screen(app, pixels), result.image)
    only_panels(app, "Model", "Class")
    click(app, "class search")
    type_text(app, "e")
    click(app, "class match 4")
    assert app.args.class_index == 4 and app.class_widget.search == ""
    G = stylegan.load(model)
    expected = to_uint8(synthesize(G, map_to_w(G, z_from_seeds([0], G.z_dim), one_hot([4], 5))))[0]
    settle(app)
    np.testing.assert_array_equal(image_on_screen(app, app.frame(read_back=True)), expected)


def test_class_names_are_shown_as_text_not_read_as_imgui_ids(display, tmp_path, monkeypatch):
    """ "###" in a label is an ID override for Dear ImGui: two classes named "a###x" and "b###x" would be one item,
    and the second could never be picked."""
    from gui_utils.layout import as_label

    names = ["a###x", "b###x", "c##hidden", "d", "e"]
    G = tiny_generator("stylegan-xl", c_dim=5)
    path = str(stylegan.save(G, tmp_path / "named.safetensors", class_names=names))
    app = open_window(path, tmp_path, monkeypatch)
    try:
        settle(app)
        only_panels(app, "Model", "Class")
        click(app, "class search")
        type_text(app, "#")
        click(app, "class match 1")
        assert app.args.class_index == 1
    finally:
        app.close()
    assert as_label("c##hidden", 2) == "c# #hidden##2"


def test_every_panel_drives_the_renderer(app):
    base = settle(app).image
    args = app.args
    steps = [
        dict(seed_x=7.0),
        dict(class_index=2),
        dict(psi=0.3, cutoff=4),
        dict(mix_enabled=True, mix_seed=11, mix_layers=[1, 2, 3]),
        dict(interp_enabled=True, interp_t=0.5, interp_space="z"),
        dict(rotate=0.4, translate_x=0.2),
        dict(layer=settle(app).layers[3].name, fft=True),
    ]
    seen = [base]
    for change in steps:
        for name, value in change.items():
            setattr(args, name, value)
        image = settle(app).image
        assert not np.array_equal(image, seen[-1]), change
        seen.append(image)
    assert seen[-1].shape[1] == 2 * seen[-1].shape[0]  # the spectrum beside the activations
    app.set_async(False)
    args.layer = None
    assert settle(app).image.shape == (16, 16, 3)
    app.latent_widget.drag(250, 0)
    assert app.args.seed_x == pytest.approx(9.5)


def test_an_exception_in_a_panel_stays_in_the_panel(app, monkeypatch):
    from imgui_bundle import imgui

    settle(app)

    def broken(show):
        imgui.push_item_width(50)  # left unbalanced by the exception
        imgui.begin_child("half-drawn")
        raise RuntimeError("the panel broke")

    monkeypatch.setattr(app, "panels", [(t, broken if t == "Truncation" else w) for t, w in app.panels])
    for _ in range(3):
        pixels = app.frame(read_back=True)  # no exception out of the frame: the window stays open
    assert pixels.shape == (800, 1200, 3) and not app.should_close
    assert "the panel broke" in app.panel_errors["Truncation"]
    app.args.seed_x = 3.0
    assert settle(app).image is not None  # the other panels and the renderer go on


def test_each_error_is_printed_once_and_a_long_session_keeps_only_the_newest(app, capsys):
    from viz.app import ERRORS_REMEMBERED

    for _ in range(3):
        app.report_error("the same thing went wrong")
    assert capsys.readouterr().out.count("the same thing went wrong") == 1
    for index in range(ERRORS_REMEMBERED + 10):
        app.report_error(f"error number {index}")
    assert len(app.errors_seen) == ERRORS_REMEMBERED and "error number 10" in app.errors_seen
    assert "error number 9" not in app.errors_seen and app.result.error == f"error number {index}"
    capsys.readouterr()
    app.report_error(f"error number {index}")
    assert capsys.readouterr().out == ""


# -- files ------------------------------------------------------------------------------------------------------


def test_dropping_models_and_a_failed_load(app, model, tmp_path):
    settle(app)
    assert app.model_widget.recent == [model]
    other = stylegan.save(tiny_generator("stylegan2", c_dim=0), tmp_path / "sg2.safetensors")
    app.drop([str(other)])  # what the window's drop callback does; the next frame handles it
    assert settle(app).model.architecture == "stylegan2"
    assert app.model_widget.recent == [str(other), model]

    corrupt = tmp_path / "corrupt" / ("a-long-folder-name-" * 8) / "corrupt.pkl"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"\x80\x04 definitely not a network")
    app.drop([str(corrupt)])
    result = app.wait_for_result()
    assert result.error and result.image is None and result.model_failed
    assert app.model_widget.recent == [str(other), model]  # a model that did not open is not recent
    assert not app.image_visible  # the stylegan2 picture is gone
    assert app.model_widget.error == result.error
    only_panels(app, "Model")
    pixels = app.frame(read_back=True)  # still running, the error drawn in the image area
    pane = pixels[:, 1200 - 420 :]
    assert ((pane[..., 0] > 200) & (pane[..., 1] < 140)).sum() > 200  # the model error, in red, in the panel
    image_area = pixels[:640, :780]  # above the error strip, which grows as a long message wraps
    assert (image_area == image_area[0, 0]).all()  # no picture left, only the background
    strip = pixels[800 - 30 : 800 - 14, 12:700].astype(int)  # the red strip along the bottom, with white text
    assert (strip[..., 0] > 2 * strip[..., 1:].max(axis=-1)).mean() > 0.6
    assert (strip.min(axis=-1) > 200).any()
    app.drop([str(tmp_path / "notes.txt")])
    app.frame()
    assert "drop a model" in app.result.error


def test_dropping_an_image_inverts_it_and_a_latent_opens(app, model, tmp_path):
    from stylegan.inversion import save_latent

    settle(app)
    PIL.Image.fromarray(np.full([16, 16, 3], 128, dtype=np.uint8)).save(tmp_path / "photo.png")
    inversion = app.inversion_widget
    inversion.steps = 6
    app.drop([str(tmp_path / "photo.png")])
    app.frame()
    assert app.args.inversion.target == str(tmp_path / "photo.png")
    assert frames_until(app, lambda: app.args.inversion is None)
    assert inversion.result is not None and app.args.latent_ws is not None
    assert settle(app).image.shape == (16, 16, 3)

    ws = np.random.RandomState(3).randn(6, 32).astype(np.float32)
    save_latent(tmp_path / "saved.npz", ws, 3, "w+")
    app.latent_widget.drag(100, 0)  # back to seeds
    app.drop([str(tmp_path / "saved.npz")])
    app.frame()
    np.testing.assert_array_equal(app.args.latent_ws, ws)
    assert app.args.class_index == 3
    G = stylegan.load(model)
    import torch

    np.testing.assert_array_equal(settle(app).image, to_uint8(synthesize(G, torch.from_numpy(ws)[None]))[0])


def test_a_latent_opens_from_its_path_field(app, tmp_path):
    import glfw

    from stylegan.inversion import save_latent

    settle(app)
    ws = np.random.RandomState(4).randn(6, 32).astype(np.float32)
    path = save_latent(tmp_path / "typed.npz", ws, None, "w")
    only_panels(app, "Seed / latent")
    click(app, "latent open")
    assert "type the path" in app.latent_widget.latent_error
    click(app, "latent path")
    type_text(app, str(path))
    press(app, glfw.KEY_ENTER)
    np.testing.assert_array_equal(app.args.latent_ws, ws)
    assert app.args.class_index is None and not app.latent_widget.latent_error
    click(app, "latent path")
    type_text(app, "x")  # typed.npzx: no such file
    press(app, glfw.KEY_ENTER)
    assert "no such latent file" in app.latent_widget.latent_error


def test_inversion_errors_stay_in_the_panel(app, tmp_path):
    settle(app)
    only_panels(app, "Inversion")
    click(app, "invert")  # nothing typed
    assert "give the path of an image" in app.inversion_widget.error and app.args.inversion is None
    app.inversion_widget.start(str(tmp_path / "missing.png"))
    assert frames_until(app, lambda: app.args.inversion is None)
    for _ in range(5):
        app.frame()
    assert "missing.png" in app.inversion_widget.error  # still there after the frames that followed


# -- panels through the mouse and keyboard ----------------------------------------------------------------------


def test_seed_animation_from_its_checkbox(app):
    settle(app)
    only_panels(app, "Seed / latent")
    app.latent_widget.speed = 5.0
    click(app, "seed animate")
    assert app.latent_widget.animate
    start = app.args.seed_x
    time.sleep(0.3)
    app.frame()
    assert app.args.seed_x > start + 1
    click(app, "seed animate")
    assert not app.latent_widget.animate


def test_painting_across_the_mixing_toggles_flips_each_one(app):
    settle(app)
    only_panels(app, "Style mixing")
    assert not app.args.mix_enabled and app.args.mix_layers == []
    move(app, *point(app, "mix w1"))
    app.frame()
    button(app, True)
    app.frame()
    for index in (2, 3, 4):
        move(app, *point(app, f"mix w{index}"))
        app.frame()
    button(app, False)
    app.frame()
    assert app.args.mix_layers == [1, 2, 3, 4]
    assert app.args.mix_enabled  # touching the toggles turns mixing on
    mixed = settle(app).ws
    click(app, "mix w3")  # a click takes one off again
    assert app.args.mix_layers == [1, 2, 4]
    assert not np.array_equal(settle(app).ws, mixed)


def test_the_t_slider_and_ping_pong_turn_interpolation_on(app):
    settle(app)
    only_panels(app, "Interpolation")
    click(app, "interp t", 0.75)
    assert app.args.interp_enabled and 0.6 < app.args.interp_t < 0.9
    app.args.interp_enabled = False
    app.interpolation_widget.speed = 2.0
    click(app, "ping-pong")
    assert app.interpolation_widget.animate and app.args.interp_enabled
    seen = []
    deadline = time.time() + 3
    while time.time() < deadline:
        app.frame()
        seen.append(app.args.interp_t)
    assert max(seen) == 1.0 and min(seen) < 0.5  # up to B, and back
    peak = seen.index(1.0)
    assert seen[-1] < 1.0 and any(later < 1.0 for later in seen[peak:])


def test_ctrl_z_and_ctrl_y_undo_and_redo_a_slider_drag(app):
    import glfw

    settle(app)
    only_panels(app, "Truncation")
    click(app, "psi", 0.2)
    edited = app.args.psi
    assert edited < 0.5
    press(app, glfw.KEY_LEFT_CONTROL, glfw.KEY_Z)
    assert app.args.psi == 1.0
    press(app, glfw.KEY_LEFT_CONTROL, glfw.KEY_Y)
    assert app.args.psi == edited
    press(app, glfw.KEY_LEFT_CONTROL, glfw.KEY_Z)
    press(app, glfw.KEY_RIGHT_CONTROL, glfw.KEY_LEFT_SHIFT, glfw.KEY_Z)
    assert app.args.psi == edited
    press(app, glfw.KEY_Z)  # without Ctrl, nothing
    assert app.args.psi == edited


def test_undo_history_is_bounded_and_sessions_round_trip(app, tmp_path):
    from stylegan.view import InterpolationEnd
    from viz.app import UNDO_STEPS

    settle(app)
    for step in range(UNDO_STEPS + 20):
        app.args.seed_x = float(step + 1)
        app.frame()
    assert len(app.undo_stack) == UNDO_STEPS
    app.undo()
    assert app.args.seed_x == UNDO_STEPS + 19
    shown = settle(app).image
    app.interpolation_widget.keyframes = [InterpolationEnd(seed=3, class_index=1)]
    path = app.save_session(tmp_path / "s.json")
    app.args.seed_x = 9.0
    app.interpolation_widget.keyframes = []
    assert not np.array_equal(settle(app).image, shown)
    assert app.load_session(path)
    np.testing.assert_array_equal(settle(app).image, shown)
    assert app.interpolation_widget.keyframes == [InterpolationEnd(seed=3, class_index=1)]
    assert not app.load_session(tmp_path / "missing.json") and "no such session" in app.result.error


# -- capture ----------------------------------------------------------------------------------------------------


def test_capture_writes_to_the_per_user_folder_and_settings_persist(app, tmp_path):
    settle(app)
    capture = app.capture_widget
    assert Path(capture.folder).is_relative_to(tmp_path / "data")
    assert Path(capture.session_path).is_relative_to(tmp_path / "data")
    assert Path(app.inversion_widget.save_path).is_relative_to(tmp_path / "data")
    image_path = capture.save_image()
    np.testing.assert_array_equal(np.asarray(PIL.Image.open(image_path)), app.result.image)
    capture.screenshot_pending = True
    app.frame()
    screenshots = list((tmp_path / "data" / "captures").glob("screen*.png"))
    assert len(screenshots) == 1 and PIL.Image.open(screenshots[0]).size == (1200, 800)
    app.close()
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved["recent_models"] and saved["window_size"] == [1200, 800]


def test_recording_the_running_view(app, tmp_path):
    import av

    settle(app)
    capture = app.capture_widget
    capture.start_recording()
    for seed in (1, 2, 3):
        app.args.seed_x = float(seed)
        settle(app)
    capture.stop_recording()
    recordings = list((tmp_path / "data" / "captures").glob("recording*.mp4"))
    assert len(recordings) == 1
    with av.open(str(recordings[0])) as container:
        assert len(list(container.decode(video=0))) >= 3


def _decoded(path):
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_a_video_export_while_the_view_turns_matches_stylegan_video(app, model, tmp_path, monkeypatch):
    """The frames the export hands to the encoder are those `stylegan video` hands to it, bit for bit. (The
    encoded files are not compared byte for byte: in full test runs x264 gave different bytes for the same
    frames, the frames having been checked equal.)"""
    from click.testing import CliRunner

    import stylegan.video
    from stylegan.view import InterpolationEnd
    from stylegan_cli import main

    written: dict[str, list] = {}
    write = stylegan.video.VideoWriter.write

    def recorded(writer, frame):
        written.setdefault(writer.path.name, []).append(frame.copy())
        write(writer, frame)

    monkeypatch.setattr(stylegan.video.VideoWriter, "write", recorded)
    settle(app)
    only_panels(app, "Equivariance", "Capture")
    app.args.interp_a, app.args.interp_b = (
        InterpolationEnd(seed=1, class_index=0),
        InterpolationEnd(seed=2, class_index=1),
    )
    capture = app.capture_widget
    capture.frames_per_transition, capture.fps = 12, 10
    click(app, "video a-b")
    assert capture.export is not None
    app.equivariance_widget.speed = 1.0
    click(app, "animate rotation")  # the shared generator now turns every frame while the video renders
    assert app.equivariance_widget.animate_rotate
    assert frames_until(app, lambda: capture.export is None)
    assert app.args.rotate != 0 and "24 frames" in capture.message  # looping: 2 keyframes x 12 frames
    (video,) = (tmp_path / "data" / "captures").glob("video*.mp4")
    cli = CliRunner().invoke(main, ["video", "--network", model, "--seeds", "1,2", "--classes", "0,1",
                                    "--frames-per-transition", "12", "--easing", "linear", "--loop", "--fps", "10",
                                    "--out", str(tmp_path / "cli.mp4")])  # fmt: skip
    assert cli.exit_code == 0, cli.output
    exported = written[video.name]
    assert len(exported) == len(written["cli.mp4"]) == len(_decoded(video)) == 24
    for got, expected in zip(exported, written["cli.mp4"], strict=True):
        np.testing.assert_array_equal(got, expected)


def test_cancelling_a_video_export_from_its_button(app, tmp_path):
    settle(app)
    only_panels(app, "Capture")
    capture = app.capture_widget
    capture.frames_per_transition = 5000
    click(app, "video a-b")
    export = capture.export
    assert export is not None
    click(app, "video cancel")
    assert frames_until(app, lambda: capture.export is None)
    assert export.cancelled and "cancelled" in capture.message
    assert not list((tmp_path / "data" / "captures").glob("video*.mp4"))


# -- pacing -----------------------------------------------------------------------------------------------------


def test_an_idle_window_sleeps_until_something_happens(app):
    settle(app)
    for _ in range(5):
        app.step()
    drawn = app.frames_drawn
    start = time.perf_counter()
    while time.perf_counter() - start < 1.5:
        app.step()
    assert app.frames_drawn - drawn <= 5  # about two a second, not sixty
    app.latent_widget.animate = True
    drawn = app.frames_drawn
    start = time.perf_counter()
    while time.perf_counter() - start < 1.5:
        app.step()
    assert app.frames_drawn - drawn >= 10  # animating: no sleeping between frames


def test_a_corrupt_settings_file_is_ignored_with_a_warning(tmp_path):
    from viz.settings import Settings

    path = tmp_path / "settings.json"
    path.write_text("{ not json")
    with pytest.warns(UserWarning, match="ignoring the visualizer settings"):
        settings = Settings.load(path)
    assert dict(settings) == {}
    settings["recent_models"] = ["a.pkl"]
    settings.save()
    assert Settings.load(path)["recent_models"] == ["a.pkl"]


def test_zoom_and_pan_keep_pixels_exact():
    from gui_utils.image_view import ImageView

    view = ImageView()
    view.layout(800, 600, 32, 32)
    assert view.zoom == 18 and view.rect(32, 32) == (112, 12, 112 + 576, 12 + 576)
    before = view.image_point(400, 300)
    view.zoom_at(400, 300, 2)  # x2, around the cursor
    assert view.zoom == 36 and view.image_point(400, 300) == pytest.approx(before)
    view.pan(10, -5)
    view.layout(800, 600, 32, 32)
    assert not view.fitted and float(view.offset_x).is_integer()
    view.reset()
    view.layout(800, 600, 32, 32)
    assert view.zoom == 18
