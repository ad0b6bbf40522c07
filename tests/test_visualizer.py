"""The visualizer window under Xvfb: what is on screen, the panels, file drops, errors, settings."""

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from tiny import tiny_generator

import stylegan
from stylegan.images import to_uint8
from stylegan.latent import map_to_w, one_hot, synthesize, z_from_seeds


def _accepts_connections(path: str, seconds: float = 10.0) -> bool:
    """Wait until the X server at this socket accepts connections (it starts a moment after the process)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(path)
                return True
            except OSError:
                time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def display():
    """A virtual display for the module (CI has no screen); skips when neither a display nor Xvfb exists."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    if shutil.which("Xvfb") is None:
        pytest.skip("needs a display or Xvfb")
    number = next(n for n in range(100, 1000) if not Path(f"/tmp/.X{n}-lock").exists())
    # -noreset: the server does not restart (refusing connections for a moment) each time the last window closes.
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp", "-noreset"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    if not _accepts_connections(f"/tmp/.X11-unix/X{number}"):
        server.kill()
        pytest.skip("Xvfb did not start")
    os.environ["DISPLAY"] = f":{number}"
    try:
        yield os.environ["DISPLAY"]
    finally:
        del os.environ["DISPLAY"]
        server.terminate()
        server.wait()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    G = tiny_generator("stylegan-xl", c_dim=5)
    return str(stylegan.save(G, tmp_path_factory.mktemp("m") / "tiny.safetensors", class_names=list("abcde")))


@pytest.fixture
def app(display, model, tmp_path):
    from viz.app import Visualizer
    from viz.settings import Settings

    visualizer = Visualizer([model], threaded=True, settings=Settings(tmp_path / "settings.json"), width=1200,
                            height=800)  # fmt: skip
    visualizer.open_panels = {title: True for title, _ in visualizer.widgets}
    visualizer.widget("Capture").folder = str(tmp_path / "captures")
    yield visualizer
    if visualizer.handle:
        visualizer.close()


def _image_on_screen(app, pixels):
    """The part of the framebuffer where the image is drawn, at image resolution (integer zoom)."""
    height, width = app.texture.shape
    x0, y0, x1, y1 = (int(v) for v in app.view.rect(width, height))
    zoom = int(app.view.zoom)
    assert app.view.zoom == zoom and zoom >= 1
    return pixels[y0:y1:zoom, x0:x1:zoom]


def _settle(app):
    result = app.wait_for_result()
    assert result.get("error") is None, result.get("error")
    return result


def test_the_window_shows_the_generators_image(app, model):
    result = _settle(app)
    pixels = app.frame(read_back=True)
    assert pixels.shape == (800, 1200, 3)
    np.testing.assert_array_equal(_image_on_screen(app, pixels), result["image"])
    G = stylegan.load(model)
    seed_class = result["model"]["c_dim"] and None
    assert seed_class is None
    expected = to_uint8(synthesize(G, map_to_w(G, z_from_seeds([0], G.z_dim), one_hot([4], 5))))[0]
    app.args["class_index"] = 4
    result = _settle(app)
    np.testing.assert_array_equal(_image_on_screen(app, app.frame(read_back=True)), expected)


def test_every_panel_drives_the_renderer(app):
    base = _settle(app)["image"]
    args = app.args
    steps = [
        dict(seed_x=7.0),
        dict(class_index=2),
        dict(psi=0.3, cutoff=4),
        dict(mix_enabled=True, mix_seed=11, mix_layers=[1, 2, 3]),
        dict(interp_enabled=True, interp_t=0.5, interp_space="z"),
        dict(rotate=0.4, translate_x=0.2),
        dict(layer=_settle(app)["layers"][3]["name"], fft=True),
    ]
    seen = [base]
    for change in steps:
        args.update(change)
        image = _settle(app)["image"]
        assert not any(np.array_equal(image, earlier) for earlier in seen[-1:]), change
        seen.append(image)
    assert seen[-1].shape[1] == 2 * seen[-1].shape[0]  # the spectrum beside the activations
    app.set_async(False)
    args["layer"] = None
    assert _settle(app)["image"].shape == (16, 16, 3)
    app.widget("Seed / latent").drag(250, 0)
    assert app.args["seed_x"] == pytest.approx(9.5)


def test_dropping_files_on_the_window(app, model, tmp_path):
    _settle(app)
    other = stylegan.save(tiny_generator("stylegan2", c_dim=0), tmp_path / "sg2.safetensors")
    app.drop([str(other)])  # what the window's drop callback does; the next frame handles it
    assert _settle(app)["model"]["architecture"] == "stylegan2"
    assert app.model.recent[0] == str(other)

    corrupt = tmp_path / "corrupt.pkl"
    corrupt.write_bytes(b"\x80\x04 definitely not a network")
    app.drop([str(corrupt)])
    result = app.wait_for_result()
    assert result["error"] and result["image"] is None
    pixels = app.frame(read_back=True)  # still running, the error drawn in the image area
    assert pixels.shape == (800, 1200, 3)
    strip = pixels[800 - 58 : 800 - 12, 12:400].astype(int)  # the red strip along the bottom, with white text
    assert (strip[..., 0] > 2 * strip[..., 1:].max(axis=-1)).mean() > 0.8
    assert (strip.min(axis=-1) > 200).any()
    app.drop([str(tmp_path / "notes.txt")])
    app.frame()
    assert "drop a model" in app.result["error"]

    app.handle_drop(model)
    _settle(app)
    PIL.Image.fromarray(np.full([16, 16, 3], 128, dtype=np.uint8)).save(tmp_path / "photo.png")
    inversion = app.widget("Inversion")
    inversion.steps = 6
    app.drop([str(tmp_path / "photo.png")])
    app.frame()
    assert app.args["inversion"]["target"] == str(tmp_path / "photo.png")
    deadline = time.time() + 60
    while app.args["inversion"] is not None and time.time() < deadline:
        app.frame()
    assert app.args["inversion"] is None and inversion.result is not None
    assert app.args["latent_ws"] is not None  # the inverted image is now the current latent
    assert _settle(app)["image"].shape == (16, 16, 3)


def test_capture_and_settings(app, tmp_path):
    _settle(app)
    capture = app.widget("Capture")
    image_path = capture.save_image()
    np.testing.assert_array_equal(np.asarray(PIL.Image.open(image_path)), app.result["image"])
    capture.screenshot_pending = True
    app.frame()
    screenshots = list((tmp_path / "captures").glob("screen*.png"))
    assert len(screenshots) == 1 and PIL.Image.open(screenshots[0]).size == (1200, 800)
    app.close()
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved["recent_models"] and saved["window_size"] == [1200, 800]


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


def test_undo_redo_and_sessions(app, tmp_path):
    _settle(app)
    app.args["seed_x"] = 5.0
    app.frame()
    app.args["psi"] = 0.5
    app.frame()
    assert app.args["psi"] == 0.5
    app.undo()
    assert app.args["psi"] == 1.0 and app.args["seed_x"] == 5.0
    app.undo()
    assert app.args["seed_x"] == 0.0
    app.redo()
    app.redo()
    assert app.args["seed_x"] == 5.0 and app.args["psi"] == 0.5
    shown = _settle(app)["image"]
    app.widget("Interpolation").keyframes = [dict(seed=3, class_index=1, ws=None)]
    path = app.save_session(str(tmp_path / "s.json"))
    app.args["seed_x"] = 9.0
    app.widget("Interpolation").keyframes = []
    assert not np.array_equal(_settle(app)["image"], shown)
    assert app.load_session(str(path))
    np.testing.assert_array_equal(_settle(app)["image"], shown)
    assert app.widget("Interpolation").keyframes[0]["seed"] == 3
    assert not app.load_session(str(tmp_path / "missing.json")) and "no such session" in app.result["error"]


def test_ctrl_z_and_ctrl_y_undo_and_redo_from_the_keyboard(app):
    import glfw

    def press(*keys):
        """Hold the keys for a frame, then let go, through the key callback GLFW calls for this window."""
        for key in keys:
            app.imgui_renderer.keyboard_callback(app.handle, key, 0, glfw.PRESS, 0)
        app.frame()
        for key in reversed(keys):
            app.imgui_renderer.keyboard_callback(app.handle, key, 0, glfw.RELEASE, 0)
        app.frame()

    _settle(app)
    app.args["psi"] = 0.5
    app.frame()
    press(glfw.KEY_LEFT_CONTROL, glfw.KEY_Z)
    assert app.args["psi"] == 1.0
    press(glfw.KEY_LEFT_CONTROL, glfw.KEY_Y)
    assert app.args["psi"] == 0.5
    press(glfw.KEY_LEFT_CONTROL, glfw.KEY_Z)
    press(glfw.KEY_RIGHT_CONTROL, glfw.KEY_LEFT_SHIFT, glfw.KEY_Z)
    assert app.args["psi"] == 0.5
    press(glfw.KEY_Z)  # without Ctrl, nothing
    assert app.args["psi"] == 0.5


def test_recording_the_running_view_and_exporting_a_video(app, tmp_path):
    import av

    _settle(app)
    capture = app.widget("Capture")
    capture.start_recording()
    for seed in (1, 2, 3):
        app.args["seed_x"] = float(seed)
        _settle(app)
    capture.stop_recording()
    recordings = list((tmp_path / "captures").glob("recording*.mp4"))
    assert len(recordings) == 1
    with av.open(str(recordings[0])) as container:
        assert len(list(container.decode(video=0))) >= 3
    capture.frames_per_transition = 3
    capture.export_video([dict(seed=1, class_index=0, ws=None), dict(seed=2, class_index=1, ws=None)])
    deadline = time.time() + 60
    while capture._export is not None and time.time() < deadline:
        app.frame()
    videos = list((tmp_path / "captures").glob("video*.mp4"))
    assert len(videos) == 1 and "6 frames" in capture.message  # looping: 2 keyframes x 3 frames
