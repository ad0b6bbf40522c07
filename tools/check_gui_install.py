"""Check that the GUI layer installs and opens a window on a given Python, with no PyTorch around.

    python tools/check_gui_install.py 3.13                 # pyenv's newest CPython 3.13
    python tools/check_gui_install.py /usr/bin/python3.12  # or any interpreter by path

It creates a fresh virtual environment with that Python, installs only what `gui_utils` needs (imgui-bundle,
glfw, PyOpenGL, numpy, pillow, at the versions pyproject.toml asks for), and opens a `gui_utils` window for a
few frames: an imgui window with a text and a texture. Without a display it starts a private Xvfb. The
texture's pixels must come back from the framebuffer exactly. Prints `ok: ...` and exits 0; otherwise it
says what failed and exits 1 (2: no display and no Xvfb). Run it with Python 3.11 or newer (it reads
pyproject.toml with tomllib); the interpreter under test can be any.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUI_PACKAGES = ("imgui-bundle", "glfw", "pyopengl", "numpy", "pillow")  # what gui_utils imports, by PyPI name
FRAMES = 5
ZOOM = 8  # screen pixels per texture pixel in the check window


def gui_requirements() -> list[str]:
    """The GUI packages' requirement strings as pyproject.toml gives them (in the dependencies or an extra such
    as [viz]), so the check installs what the project asks for."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = project.get("dependencies", []) + sum(project.get("optional-dependencies", {}).values(), [])
    chosen: dict[str, str] = {}
    for requirement in listed:
        name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()
        if name in GUI_PACKAGES:
            chosen.setdefault(name, requirement)
    missing = [name for name in GUI_PACKAGES if name not in chosen]
    if missing:
        raise SystemExit(f"pyproject.toml lists no requirement for {', '.join(missing)}")
    return [chosen[name] for name in GUI_PACKAGES]


def pyenv_python(version: str) -> Path | None:
    """The newest interpreter pyenv has for a version prefix such as '3.13', or None."""
    root = os.environ.get("PYENV_ROOT")
    if not root and shutil.which("pyenv"):
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
    versions = Path(root or Path.home() / ".pyenv") / "versions"
    pattern = re.compile(rf"{re.escape(version)}(\.\d+)*")
    found = [
        p for p in versions.glob(f"{version}*") if pattern.fullmatch(p.name) and (p / "bin/python").exists()
    ]
    if not found:
        return None
    newest = max(found, key=lambda p: [int(part) for part in p.name.split(".")])
    return newest / "bin" / "python"


def resolve_python(spec: str) -> Path:
    if "/" in spec:
        return Path(spec)
    python = pyenv_python(spec)
    if python is None:
        raise SystemExit(f"pyenv has no Python {spec} (see `pyenv versions`); or pass an interpreter's path")
    return python


class VirtualDisplay:
    """A private Xvfb server while no display is set; nothing otherwise."""

    def __init__(self):
        self.server: subprocess.Popen | None = None
        self.display = os.environ.get("DISPLAY")

    def __enter__(self) -> str:
        if self.display:
            return self.display
        if shutil.which("Xvfb") is None:
            print("error: no display (DISPLAY) and no Xvfb to make one (apt-get install xvfb)")
            raise SystemExit(2)
        number = next(n for n in range(100, 1000) if not Path(f"/tmp/.X{n}-lock").exists())
        self.server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.time() + 10
        while time.time() < deadline:
            with socket.socket(socket.AF_UNIX) as probe:
                try:
                    probe.connect(f"/tmp/.X11-unix/X{number}")
                    break
                except OSError:
                    time.sleep(0.05)
        else:
            self.__exit__()
            raise SystemExit("error: Xvfb did not start")
        self.display = f":{number}"
        return self.display

    def __exit__(self, *_) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait()


def check(python: Path, keep: Path | None = None, screenshot: Path | None = None) -> int:
    """Fresh venv with `python`, the GUI packages only, then the window check inside it."""
    version = subprocess.run([str(python), "--version"], capture_output=True, text=True, check=True).stdout
    print(f"checking the GUI install on {version.strip()} ({python})", flush=True)
    with tempfile.TemporaryDirectory(prefix="gui-install-") as scratch:
        venv = keep or Path(scratch) / "venv"
        subprocess.run([str(python), "-m", "venv", "--clear", str(venv)], check=True)
        venv_python = venv / "bin" / "python"
        requirements = gui_requirements()
        print(f"installing {' '.join(requirements)} into a fresh {venv}", flush=True)
        installed = subprocess.run([str(venv_python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                                    *requirements])  # fmt: skip
        if installed.returncode:
            print(f"error: pip could not install the GUI packages on {version.strip()}")
            return 1
        with VirtualDisplay() as display:
            environment = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(ROOT)}
            environment.pop("PYGLFW_LIBRARY", None)  # the venv's own packages decide which libglfw loads
            screenshot = screenshot or Path(scratch) / "window.png"
            ran = subprocess.run([str(venv_python), __file__, "--inside", str(screenshot)], env=environment,
                                 cwd=ROOT)  # fmt: skip
        return ran.returncode


def inside(screenshot: Path) -> int:
    """Runs in the fresh venv: open the window, draw, read the framebuffer back."""
    import importlib.metadata
    import importlib.util

    import numpy as np
    import OpenGL.GL as gl
    import PIL.Image
    from imgui_bundle import imgui

    from gui_utils.imgui_window import ImguiWindow
    from gui_utils.texture import Texture

    if importlib.util.find_spec("torch") is not None:
        print("error: torch is importable here; the check must run without it")
        return 1
    pattern = np.zeros([8, 8, 3], dtype=np.uint8)  # a checkerboard of two colours no font pixel has
    pattern[(np.indices([8, 8]).sum(0) % 2) == 0] = (230, 40, 30)
    pattern[(np.indices([8, 8]).sum(0) % 2) == 1] = (20, 90, 220)
    window = ImguiWindow("check_gui_install", 320, 240)
    try:
        texture = Texture()
        texture.upload(pattern)
        for _ in range(FRAMES):
            window.begin_frame()
            imgui.set_next_window_pos((0, 0))
            imgui.set_next_window_size((320, 240))
            imgui.begin("check", flags=imgui.WindowFlags_.no_title_bar | imgui.WindowFlags_.no_move)
            imgui.text(
                f"Python {sys.version.split()[0]}, imgui-bundle {importlib.metadata.version('imgui-bundle')}"
            )
            imgui.image(imgui.ImTextureRef(texture.id), (8 * ZOOM, 8 * ZOOM))
            corner = imgui.get_item_rect_min()
            imgui.end()
            pixels = window.end_frame(read_back=True)
        renderer = gl.glGetString(gl.GL_VERSION).decode()
    finally:
        window.close()
    PIL.Image.fromarray(pixels).save(screenshot)
    x0, y0 = int(corner.x), int(corner.y)
    shown = pixels[y0 : y0 + 8 * ZOOM : ZOOM, x0 : x0 + 8 * ZOOM : ZOOM]
    if not np.array_equal(shown, pattern):
        print(f"error: the texture drawn at ({x0}, {y0}) does not match what was uploaded")
        return 1
    text_row = pixels[8:24, 8:300]
    if not (text_row.min(axis=-1) > 180).any():
        print("error: no text in the imgui window")
        return 1
    versions = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in GUI_PACKAGES)
    print(f"ok: Python {sys.version.split()[0]}: {versions}; OpenGL {renderer}; {FRAMES} frames with text and "
          f"a texture read back exactly; no torch installed")  # fmt: skip
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("python", nargs="?", help="a version pyenv has (3.12, 3.13) or an interpreter's path")
    parser.add_argument(
        "--keep", type=Path, help="build the venv here and keep it (default: a temporary one)"
    )
    parser.add_argument("--screenshot", type=Path, help="save what the window showed as this PNG")
    parser.add_argument("--inside", type=Path, help=argparse.SUPPRESS)  # the part that runs in the fresh venv
    options = parser.parse_args()
    if options.inside:
        return inside(options.inside)
    if not options.python:
        parser.error("name the Python to check")
    return check(
        resolve_python(options.python), options.keep, options.screenshot and options.screenshot.resolve()
    )


if __name__ == "__main__":
    sys.exit(main())
