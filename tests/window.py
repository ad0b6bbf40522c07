"""Driving the visualizer window in tests as a person would: a window on a test model, and mouse, keyboard and
text input delivered through the callbacks GLFW calls. Window tests need a display (the `display` fixture)."""

import time


def open_window(model: str, tmp_path, monkeypatch, width: int = 1200, height: int = 800):
    """The visualizer on `model`, every panel open, its settings and outputs under tmp_path."""
    monkeypatch.setenv("STYLEGAN_STUDIO_DATA", str(tmp_path / "data"))
    from viz.app import Visualizer
    from viz.settings import Settings

    visualizer = Visualizer([model], threaded=True, settings=Settings(tmp_path / "settings.json"), width=width,
                            height=height)  # fmt: skip
    visualizer.open_panels = {title: True for title, _ in visualizer.panels}
    return visualizer


def only_panels(app, *titles):
    """Open just these panels (the pane is not tall enough for all of them at once)."""
    app.open_panels = {title: title in titles for title, _ in app.panels}
    app.frame()


def move(app, x, y):
    import glfw

    glfw.set_cursor_pos(app.handle, x, y)
    app.imgui_renderer.mouse_callback(app.handle, x, y)


def button(app, pressed: bool):
    import glfw

    app.imgui_renderer.mouse_button_callback(
        app.handle, glfw.MOUSE_BUTTON_LEFT, glfw.PRESS if pressed else glfw.RELEASE, 0
    )


def point(app, name, fx=0.5):
    if name not in app.item_rects:
        app.frame()
    x0, y0, x1, y1 = app.item_rects[name]
    return x0 + (x1 - x0) * fx, (y0 + y1) / 2


def click(app, name, fx=0.5):
    move(app, *point(app, name, fx))
    app.frame()
    button(app, True)
    app.frame()
    button(app, False)
    app.frame()


def type_text(app, text):
    for char in text:
        app.imgui_renderer.char_callback(app.handle, ord(char))
    app.frame()


def press(app, *keys):
    """Hold the keys for a frame, then let go, through the key callback GLFW calls for this window."""
    import glfw

    for key in keys:
        app.imgui_renderer.keyboard_callback(app.handle, key, 0, glfw.PRESS, 0)
    app.frame()
    for key in reversed(keys):
        app.imgui_renderer.keyboard_callback(app.handle, key, 0, glfw.RELEASE, 0)
    app.frame()


def image_on_screen(app, pixels):
    """The part of the framebuffer where the image is drawn, at image resolution (integer zoom)."""
    height, width = app.texture.shape
    x0, y0, x1, y1 = (int(v) for v in app.view.rect(width, height))
    zoom = int(app.view.zoom)
    assert app.view.zoom == zoom and zoom >= 1
    return pixels[y0:y1:zoom, x0:x1:zoom]


def settle(app):
    result = app.wait_for_result()
    assert result.error is None, result.error
    return result


def frames_until(app, condition, seconds=60):
    deadline = time.time() + seconds
    while not condition() and time.time() < deadline:
        app.frame()
    return condition()
