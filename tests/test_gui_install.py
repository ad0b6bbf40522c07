"""The GUI layer installs on a current CPython and opens a window there: tools/check_gui_install.py in a fresh venv."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "check_gui_install.py"


def _check_tool():
    spec = importlib.util.spec_from_file_location("check_gui_install", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_gui_installs_and_draws_on_python_3_13(tmp_path):
    python = _check_tool().pyenv_python("3.13")
    if python is None:
        pytest.skip("pyenv has no CPython 3.13")
    if not os.environ.get("DISPLAY") and shutil.which("Xvfb") is None:
        pytest.skip("needs a display or Xvfb")
    screenshot = tmp_path / "window.png"
    ran = subprocess.run([sys.executable, str(SCRIPT), str(python), "--screenshot", str(screenshot)],
                         capture_output=True, text=True, timeout=1800)  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "ok: Python 3.13" in ran.stdout and "no torch installed" in ran.stdout
    assert screenshot.stat().st_size > 0
