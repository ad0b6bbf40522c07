"""Make docs/visualizer.png, the README's screenshot, with the app itself.

Run under a display, e.g. `xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python tools/readme_screenshot.py`.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylegan.images import save_image  # noqa: E402
from viz.app import Visualizer  # noqa: E402
from viz.settings import Settings  # noqa: E402


def main() -> None:
    app = Visualizer(["default"], threaded=False, settings=Settings(None), width=1400, height=860)
    app.open_panels = {title: title in ("Model", "Class", "Seed / latent", "Truncation", "Style mixing")
                       for title, _ in app.panels}  # fmt: skip
    app.args = app.args.replace(seed_x=5.0, class_index=1, psi=1.0)
    app.wait_for_result()
    pixels = app.frame(read_back=True)
    path = save_image(pixels, ROOT / "docs" / "visualizer.png")
    app.close()
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
