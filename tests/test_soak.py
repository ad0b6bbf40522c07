"""A long visualizer run under Xvfb on the default model: random panel settings, file drops (good and hostile),
inversions started and dropped, undo and redo, panels opened and closed, for several minutes.

It checks that the window never closes on an error, that what a long session accumulates stays bounded
(undo history, tuned generators, the seed-ws cache, error messages, textures) and that the process's memory
stays flat once warm. STYLEGAN_SOAK_SECONDS sets the length (default 180).
"""

import os
import random
import time
from pathlib import Path

import hostile_inputs
import numpy as np
import PIL.Image
import pytest
import torch
from window import open_window

import stylegan
from stylegan.images import to_uint8
from stylegan.inversion import save_latent

pytestmark = pytest.mark.slow

SOAK_SECONDS = float(os.environ.get("STYLEGAN_SOAK_SECONDS", "180"))
MAX_GROWTH_MB = 120  # resident memory the second half of the run may add to the first half's peak


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _files(folder: Path) -> list[str]:
    """Things a person drops on the window: a picture the model drew, a latent, and broken or hostile files."""
    G = stylegan.load("default")
    with torch.no_grad():
        ws = G.mapping(
            torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(5)), torch.eye(G.c_dim)[:1]
        )
        PIL.Image.fromarray(to_uint8(G.synthesis(ws))[0]).save(folder / "drawn.png")
    save_latent(folder / "latent.npz", ws, 0, "w+")
    (folder / "huge.png").write_bytes(hostile_inputs.png(13000, 13000, rows=1))
    (folder / "nan.npz").write_bytes(
        hostile_inputs.npz(w=hostile_inputs.npy(np.full([1, G.num_ws, G.w_dim], np.nan)))
    )
    (folder / "broken.pkl").write_bytes(b"\x80\x04junk" * 100)
    (folder / "notes.txt").write_text("not a model")
    (folder / "missing.safetensors").unlink(missing_ok=True)
    return [str(folder / name) for name in
            ("drawn.png", "latent.npz", "huge.png", "nan.npz", "broken.pkl", "notes.txt", "missing.safetensors")]  # fmt: skip


def _random_change(app, rng: random.Random, files: list[str]) -> str:
    """One thing a person might do next; returns its name."""
    args = app.args
    info = app.model_info
    num_ws = info.num_ws if info else 1
    c_dim = info.c_dim if info else 0
    action = rng.choice(["seed", "class", "psi", "mix", "layer", "interp", "transform", "drop", "invert",
                         "stop", "undo", "redo", "panels", "view", "default"])  # fmt: skip
    if action == "seed":
        args.seed_x, args.seed_y = rng.uniform(0, 5000), rng.uniform(0, 50)
    elif action == "class" and c_dim:
        args.class_index = rng.choice([None, rng.randrange(c_dim)])
    elif action == "psi":
        args.psi = rng.uniform(0, 1.5)
        args.cutoff = rng.choice([None, rng.randrange(1, num_ws + 1)])
    elif action == "mix":
        args.mix_enabled = rng.random() < 0.7
        args.mix_seed = rng.randrange(1000)
        args.mix_layers = sorted(rng.sample(range(num_ws), rng.randrange(num_ws + 1)))
    elif action == "layer":
        names = [layer.name for layer in app.result.layers] if app.result.layers else []
        args.layer = rng.choice([None, *names]) if names else None
        args.channel, args.rgb, args.fft = rng.randrange(3), rng.random() < 0.5, rng.random() < 0.3
    elif action == "interp":
        args.interp_enabled = rng.random() < 0.6
        args.interp_t = rng.random()
        args.interp_space = rng.choice(["w", "z"])
    elif action == "transform":
        args.translate_x, args.translate_y, args.rotate = (
            rng.uniform(-1, 1),
            rng.uniform(-1, 1),
            rng.uniform(-3, 3),
        )
    elif action == "drop":
        app.handle_drop(rng.choice(files))
    elif action == "invert":
        app.inversion_widget.steps = rng.randrange(5, 40)
        app.inversion_widget.pti_steps = rng.choice([0, 0, 5])
        app.handle_drop(files[0])
    elif action == "stop":
        args.inversion = None
    elif action == "undo":
        app.undo()
    elif action == "redo":
        app.redo()
    elif action == "panels":
        app.open_panels = {title: rng.random() < 0.5 for title, _ in app.panels}
    elif action == "view":
        args.latent_ws = None
        args.noise_mode = rng.choice(["const", "random", "none"])
    elif action == "default":
        app.model_widget.open("default")
    return action


def test_a_long_session_stays_alive_and_bounded(display, tmp_path, monkeypatch):
    from viz.app import UNDO_STEPS

    files = _files(tmp_path)
    app = open_window("default", tmp_path, monkeypatch)
    rng = random.Random(0)
    counts: dict[str, int] = {}
    started = time.monotonic()
    first_half_peak = 0.0
    frames = 0
    try:
        app.wait_for_result(timeout=60)
        while (elapsed := time.monotonic() - started) < SOAK_SECONDS:
            action = _random_change(app, rng, files)
            counts[action] = counts.get(action, 0) + 1
            for _ in range(rng.randrange(1, 6)):
                app.frame()
                frames += 1
            assert app.handle and not app.should_close, f"the window closed after {action}"
            if elapsed < SOAK_SECONDS / 2:
                first_half_peak = max(first_half_peak, _rss_mb())
            assert len(app.undo_stack) <= UNDO_STEPS and len(app.redo_stack) <= UNDO_STEPS
            assert (
                len(app.renderer.renderer._registered) <= 2
            )  # tuned generators: the shown one and the newest
            assert len(app.renderer.renderer._ws_cache) <= app.renderer.renderer._ws_cache_size
            assert len(app.renderer.renderer._networks) <= 1
        final = _rss_mb()
    finally:
        app.close()
    assert counts.get("drop", 0) > 5 and counts.get("invert", 0) > 5, counts
    assert app.renderer.restarts == 0
    assert len(app.errors_seen) < 50, sorted(app.errors_seen)[:10]
    print(f"soak: {frames} frames, {sum(counts.values())} changes in {SOAK_SECONDS:.0f} s; RSS first-half "
          f"peak {first_half_peak:.0f} MB, end {final:.0f} MB; {counts}")  # fmt: skip
    assert final - first_half_peak < MAX_GROWTH_MB
