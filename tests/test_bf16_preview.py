"""The CPU's bf16 preview (ViewArgs.preview_bf16): off by default, close to float32 within the bounds measured
with bench/bf16_preview.py, and its checkbox in the Model panel."""

import math

import numpy as np
import pytest
from tiny import tiny_generator
from window import click, only_panels, open_window, settle

import stylegan
from stylegan.errors import StyleGANError
from stylegan.images import to_uint8
from stylegan.latent import synthesize
from stylegan.view import ViewArgs, load_session, render_view, save_session, view_ws


def preview_error(G, seeds: list[int], **view) -> tuple[int, float]:  # noqa: N803
    """(largest difference in 8-bit levels, worst PSNR in dB) of the preview against float32 over the seeds."""
    worst, psnr = 0, math.inf
    for seed in seeds:
        args = ViewArgs(seed_x=float(seed), **view)
        exact = render_view(G, args).image.astype(np.float64)
        preview = render_view(G, args.replace(preview_bf16=True)).image
        worst = max(worst, int(np.abs(preview - exact).max()))
        mse = float(np.square(preview - exact).mean())
        psnr = min(psnr, math.inf if mse == 0 else 10 * math.log10(255**2 / mse))
    return worst, psnr


def test_preview_is_off_by_default_and_the_default_view_is_float32():
    G = tiny_generator()  # noqa: N806
    args = ViewArgs.from_json({})
    assert args.preview_bf16 is False
    exact = to_uint8(synthesize(G, view_ws(G, args)[None].detach()))[0]
    assert np.array_equal(render_view(G, args).image, exact)


def test_preview_field_is_checked_and_saved_in_sessions(tmp_path):
    with pytest.raises(StyleGANError, match="preview_bf16: expected bool"):
        ViewArgs.from_json({"preview_bf16": 1})
    path = save_session(tmp_path / "view.json", ViewArgs(preview_bf16=True))
    assert load_session(path)[0].preview_bf16 is True


# Measured on 8 seeds (bench/bf16_preview.py): the default model at most 7 levels off, PSNR 47.9 dB at worst; the
# tiny generators at most 2 (alias-free) and 8 (StyleGAN2) levels, 53.6 and 44.3 dB.
def test_preview_of_the_default_model_is_close_to_float32():
    worst, psnr = preview_error(stylegan.load("default"), seeds=[0, 1, 2, 3])
    assert 0 < worst <= 12 and psnr > 44


@pytest.mark.parametrize(
    "architecture, radial, max_levels, min_psnr",
    [("stylegan-xl", False, 4, 50), ("stylegan-xl", True, 4, 50), ("stylegan2", False, 12, 40)],
)
def test_preview_of_every_family_is_close_to_float32(architecture, radial, max_levels, min_psnr):
    worst, psnr = preview_error(tiny_generator(architecture, radial=radial), seeds=[0, 1, 2])
    assert 0 < worst <= max_levels and psnr > min_psnr


def test_preview_keeps_the_filters_in_float32():
    view = render_view(tiny_generator(), ViewArgs(preview_bf16=True, layer="L0_36_32"))
    assert view.layer_dtype == "float32"


def test_the_model_panel_turns_the_preview_on_and_off(display, model, tmp_path, monkeypatch):
    app = open_window(model, tmp_path, monkeypatch)
    try:
        settle(app)
        only_panels(app, "Model")
        assert not app.args.preview_bf16
        app.model_widget.native_bf16 = True
        click(app, "bf16 preview")
        assert app.args.preview_bf16 and settle(app).args.preview_bf16
        app.model_widget.native_bf16 = False  # a CPU without native bf16: the box turns off, never on
        click(app, "bf16 preview")
        assert not app.args.preview_bf16
        click(app, "bf16 preview")
        assert not app.args.preview_bf16
    finally:
        app.close()
