"""A view as the library knows it: typed fields, checks naming the field, sessions, and render_view drawing what
the command line draws."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from tiny import drawn, tiny_generator

from stylegan.errors import StyleGANError
from stylegan.latent import style_mix
from stylegan.view import (
    InterpolationEnd,
    InversionJob,
    ViewArgs,
    load_session,
    render_view,
    save_session,
)


@pytest.fixture(scope="module")
def G(G):  # noqa: N802 (the conventional name of a generator)
    return G.eval().requires_grad_(False)


def _image(G, seed, class_index, psi=1.0):
    images, ws = drawn(G, [seed], [class_index], psi)
    return ws, images[0]


def test_render_view_draws_a_seed_as_the_command_line_does(G):
    ws, expected = _image(G, 7, 3, psi=0.6)
    view = render_view(G, ViewArgs(seed_x=7, class_index=3, psi=0.6))
    np.testing.assert_array_equal(view.image, expected)
    np.testing.assert_allclose(view.ws, ws[0].numpy(), atol=1e-6)


def test_render_view_mixes_layers_and_moves_the_canvas(G):
    ws_a, _ = _image(G, 1, 0)
    ws_b, _ = _image(G, 2, 4)
    mixed = style_mix(ws_a, ws_b, [3, 4])
    view = render_view(G, ViewArgs(seed_x=1, class_index=0, mix_enabled=True, mix_seed=2, mix_class=4,
                                   mix_layers=[3, 4]))  # fmt: skip
    np.testing.assert_allclose(view.ws, mixed[0].numpy(), atol=1e-6)
    plain = render_view(G, ViewArgs(seed_x=1, class_index=0)).image
    turned = render_view(G, ViewArgs(seed_x=1, class_index=0, rotate=0.4, translate_x=0.1)).image
    assert not np.array_equal(plain, turned)
    np.testing.assert_array_equal(render_view(G, ViewArgs(seed_x=1, class_index=0)).image, plain)


def test_render_view_shows_a_layer(G):
    name = G.synthesis.layer_names[1]
    view = render_view(G, ViewArgs(layer=name, rgb=False, fft=True))
    channels, size, _ = view.layer_shape
    assert view.image.shape == (size, 2 * size, 3) and view.layer_dtype == "float32"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (dict(class_index=5), "class_index: class 5 is out of range: 0 to 4"),
        (dict(mix_class=9), "mix_class: class 9"),
        (dict(mix_layers=[1, 40]), r"mix_layers\[1\]: layer 40 is out of range"),
        (dict(cutoff=99), "cutoff 99 is out of range"),
        (dict(latent_ws=np.zeros((3, 32), np.float32)), "latent_ws: this latent has shape"),
        (dict(interp_a=InterpolationEnd(ws=np.zeros((2, 2), np.float32))), "interp_a.ws"),
        (dict(layer="L99_nowhere"), "layer: this model has no layer"),
    ],
)
def test_checks_against_the_model_name_the_field(G, fields, message):
    with pytest.raises(StyleGANError, match=message):
        render_view(G, ViewArgs(**fields))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"sede_x": 1}, "unknown settings 'sede_x'"),
        ({"psi": float("nan")}, "psi: nan is not a finite number"),
        ({"psi": "strong"}, "psi: expected float"),
        ({"seed_x": 1e300}, "seed_x .* off the seed grid"),
        ({"noise_seed": -1}, "noise_seed: -1 is out of range"),
        ({"mix_seed": 2**40}, "mix_seed: .* out of range"),
        ({"channel": -3}, "channel: -3 is out of range"),
        ({"class_index": 1.5}, "class_index: expected int"),
        ({"fp16": 1}, "fp16: expected bool"),
        ({"mix_layers": [1, "x"]}, "mix_layers: expected a list of whole numbers"),
        ({"noise_mode": "loud"}, "noise_mode: 'loud' is not one of"),
        ({"interp_a": {"seed": 1, "colour": 2}}, "interp_a: unknown settings 'colour'"),
        ({"latent_ws": {"ndarray": [[1.0, float("inf")]]}}, "latent_ws: the latent has NaN or infinite"),
        ({"inversion": {"target": "a.png", "steps": 0}}, "inversion.steps: 0 is out of range"),
        ({"inversion": {"target": "a.png", "space": "q"}}, "inversion.space"),
        ({"model": "\x1b[2J" + "m" * 5000}, "model: 5,004 characters is too long"),
    ],
)
def test_fields_are_checked_on_their_own(data, message):
    with pytest.raises(StyleGANError, match=message):
        ViewArgs.from_json(data)


def test_file_text_in_messages_is_bounded_and_escaped():
    with pytest.raises(StyleGANError) as error:
        ViewArgs.from_json({"\x1b]0;owned\x07" + "k" * 500: 1})
    assert "\x1b" not in str(error.value) and len(str(error.value)) < 200


def test_sessions_round_trip(tmp_path):
    ws = np.random.RandomState(0).randn(6, 32).astype(np.float32)
    args = ViewArgs(seed_x=2.5, latent_ws=ws, mix_layers=[1, 2], interp_b=InterpolationEnd(seed=4, class_index=1),
                    inversion=InversionJob(target="t.png", steps=20, paused=True))  # fmt: skip
    path = save_session(tmp_path / "s.json", args, {"keyframes": [{"seed": 3}]})
    loaded, panels = load_session(path)
    np.testing.assert_array_equal(loaded.latent_ws, ws)
    assert loaded.replace(latent_ws=None) == args.replace(latent_ws=None)
    assert panels == {"keyframes": [{"seed": 3}]}


def test_bad_session_files_are_one_error(tmp_path):
    cases = {
        "deep.json": "[" * 100_000 + "]" * 100_000,
        "other.json": json.dumps({"format": "stylegan-studio-session", "version": 7, "args": {}}),
        "args.json": json.dumps({"format": "stylegan-studio-session", "version": 1, "args": [1, 2]}),
        "binary.json": "\x00\xff garbage",
    }
    deep_panels = {"x": 1}
    for _ in range(40):
        deep_panels = {"x": deep_panels}
    cases["nested.json"] = json.dumps(
        {"format": "stylegan-studio-session", "version": 1, "args": {}, "panels": deep_panels}
    )
    for name, text in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8", errors="surrogateescape")
        with pytest.raises(StyleGANError, match=name):
            load_session(tmp_path / name)


def test_paused_is_not_part_of_what_restarts_an_inversion():
    job = InversionJob(target="a.png", steps=10)
    assert job.restart_key() == InversionJob(target="a.png", steps=10, paused=True).restart_key()
    assert job.restart_key() != InversionJob(target="a.png", steps=10, run=1).restart_key()


def test_importing_the_library_loads_no_gui_and_no_trainer():
    code = (
        "import sys, stylegan, stylegan.view, stylegan.inversion, stylegan.video\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('imgui', 'imgui_bundle', 'glfw', 'OpenGL', 'viz', 'gui_utils', 'training', 'stylegan_cli', 'timm')]\n"
        "print(bad)"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_a_generator_on_the_meta_device_reports_it():
    G = tiny_generator("stylegan-xl").to("meta")
    assert G.device == torch.device("meta")


def test_the_trainers_option_checks_load_no_torch():
    code = "import sys, training.options; print('torch' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"
