"""Inversion: target preparation, projection in W and W+, pivotal tuning, losses, latent files, the CLI."""

import json

import numpy as np
import PIL.Image
import pytest
import torch
from click.testing import CliRunner
from tiny import tiny_generator

import stylegan
import stylegan.inversion as inversion
from stylegan.errors import StyleGANError
from stylegan.inversion import (
    PivotalTuner,
    Projector,
    infer_classes,
    learning_rate,
    load_latent,
    load_target,
    resolve_start_class,
    run_steps,
    save_latent,
)
from stylegan.latent import map_to_w, one_hot, z_from_seeds
from stylegan.perceptual import LPIPS, ReconstructionLoss, load_lpips, multiscale_ssim, psnr, ssim
from stylegan_cli import main

FALLBACK = ReconstructionLoss(None)


@pytest.fixture(scope="module")
def target(G):
    """An image the generator itself made: seed 3, class 2."""
    with torch.no_grad():
        return G.synthesis(map_to_w(G, z_from_seeds([3], G.z_dim), one_hot([2], G.c_dim)))


def _best_psnr(projector, target):
    with torch.no_grad():
        return psnr(projector.G.synthesis(projector.best_ws), target).item()


# targets ---------------------------------------------------------------------------------------------------


def test_targets_are_centre_cropped_and_resized(tmp_path):
    pixels = np.zeros([40, 60, 3], dtype=np.uint8)
    pixels[:, 10:50] = [255, 0, 0]  # the centre square is red, the side strips black
    PIL.Image.fromarray(pixels).save(tmp_path / "wide.png")
    target = load_target(tmp_path / "wide.png", 16)
    assert target.shape == (1, 3, 16, 16)
    assert torch.allclose(target[0, 0], torch.ones(16, 16), atol=1e-3)
    assert torch.allclose(target[0, 1:], -torch.ones(2, 16, 16), atol=1e-3)


def test_transparency_goes_on_white_and_grey_images_get_three_channels(tmp_path):
    rgba = np.zeros([8, 8, 4], dtype=np.uint8)
    rgba[:4, :, :] = [0, 0, 255, 255]  # top half opaque blue, bottom transparent
    PIL.Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    target = load_target(tmp_path / "alpha.png", 8)
    assert torch.allclose(target[0, :, 6], torch.ones(3, 8), atol=1e-3)  # white
    assert torch.allclose(target[0, :, 1], torch.tensor([-1.0, -1.0, 1.0])[:, None].expand(3, 8), atol=1e-3)
    PIL.Image.fromarray(np.full([8, 8], 64, dtype=np.uint8), "L").save(tmp_path / "grey.png")
    grey = load_target(tmp_path / "grey.png", 8)
    assert grey.shape == (1, 3, 8, 8) and torch.allclose(grey, torch.full_like(grey, 64 / 255 * 2 - 1))
    assert load_target(tmp_path / "alpha.png", 8, channels=1).shape == (1, 1, 8, 8)


def test_sixteen_bit_images_keep_their_precision(tmp_path):
    values = np.full([8, 8], 1000, dtype=np.uint16)  # between two 8-bit levels
    PIL.Image.fromarray(values).save(tmp_path / "deep.png")
    target = load_target(tmp_path / "deep.png", 8)
    assert torch.allclose(target, torch.full_like(target, 1000 / 65535 * 2 - 1), atol=1e-5)


def test_exif_orientation_is_respected(tmp_path):
    pixels = np.zeros([16, 16, 3], dtype=np.uint8)
    pixels[:, :8] = 255  # left half white
    image = PIL.Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    image.save(tmp_path / "rotated.jpg", exif=exif, quality=100)
    image.save(tmp_path / "rotated.webp", exif=exif, lossless=True)
    for name in ("rotated.jpg", "rotated.webp"):
        target = load_target(tmp_path / name, 16)
        assert target[0, 0, :6].mean() > 0.9 and target[0, 0, 10:].mean() < -0.9, (
            name
        )  # white moved to the top


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.png", None, "no such image"),
        ("notes.png", b"not an image", "not an image this program can read"),
    ],
)
def test_bad_targets_are_clear_errors(tmp_path, name, content, message):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(StyleGANError, match=message):
        load_target(tmp_path / name, 16)
    with pytest.raises(StyleGANError, match="directory"):
        load_target(tmp_path, 16)


# projection ------------------------------------------------------------------------------------------------


def test_the_learning_rate_schedule_is_the_official_one():
    assert learning_rate(0, 1000) == 0
    assert learning_rate(25, 1000) == pytest.approx(0.05)  # half-way through the 5 % warm-up
    assert learning_rate(500, 1000) == pytest.approx(0.1)
    assert learning_rate(875, 1000) == pytest.approx(0.05)  # half-way through the 25 % cosine ramp-down
    assert learning_rate(999, 1000) < 1e-3


def test_w_plus_inversion_reaches_a_high_psnr_and_w_a_lower_one(G, target):
    w_plus = Projector(G, target, FALLBACK, class_index=2, space="w+", num_steps=200)
    run_steps(w_plus)
    w = Projector(G, target, FALLBACK, class_index=2, space="w", num_steps=200)
    run_steps(w)
    start = psnr(G.synthesis(G.mapping.w_avg[2].expand(1, G.num_ws, -1)), target).item()
    assert _best_psnr(w_plus, target) >= 40  # measured 45.0 dB
    assert 30 <= _best_psnr(w, target) < _best_psnr(w_plus, target)  # measured 38.8 dB
    assert start < 25
    assert torch.equal(w.best_ws[0, 0], w.best_ws[0, -1])  # W: one w for every layer


def test_pivotal_tuning_improves_on_the_pivot(G, target):
    projector = Projector(G, target, FALLBACK, class_index=2, space="w", num_steps=40)
    run_steps(projector)
    pivot_psnr = _best_psnr(projector, target)
    tuner = PivotalTuner(G, projector.best_ws, target, FALLBACK, num_steps=40)
    run_steps(tuner)
    tuned = tuner.tuned_generator()
    with torch.no_grad():
        tuned_psnr = psnr(tuned.synthesis(projector.best_ws), target).item()
    assert tuned_psnr > pivot_psnr + 2
    assert not any(p.requires_grad for p in tuned.parameters())
    assert all(
        torch.equal(a, b)
        for a, b in zip(G.parameters(), tiny_generator("stylegan-xl", 5).parameters(), strict=True)
    )


def test_step_by_step_equals_one_shot_and_the_seed_matters():
    """StyleGAN2 projection uses randomness (noise maps, noise on w): the seed decides it."""
    G = tiny_generator("stylegan2", c_dim=0)
    with torch.no_grad():
        target = G.synthesis(map_to_w(G, z_from_seeds([1], G.z_dim), one_hot([0], 0)))
    one_shot = Projector(G, target, FALLBACK, space="w+", num_steps=15, seed=4)
    reports = run_steps(one_shot)
    stepped = Projector(G, target, FALLBACK, space="w+", num_steps=15, seed=4)
    while not stepped.done:
        stepped.step()
        assert stepped.image.shape == target.shape  # what the GUI shows between steps
    assert torch.equal(one_shot.best_ws, stepped.best_ws) and torch.equal(one_shot.image, stepped.image)
    other = Projector(G, target, FALLBACK, space="w+", num_steps=15, seed=5)
    run_steps(other)
    assert not torch.equal(one_shot.best_ws, other.best_ws)
    assert len(reports) == 15 and reports[-1].step == 15
    assert one_shot.noise_maps and all(
        abs(buf.square().mean().item() - 1) < 1e-4 for buf in one_shot.noise_maps
    )


def test_unconditional_models_start_at_w_avg():
    G = tiny_generator("stylegan-xl", c_dim=0)
    target = torch.zeros(1, 3, 16, 16)
    projector = Projector(G, target, FALLBACK, space="w", num_steps=1)
    assert torch.equal(projector.best_ws[0, 0], G.mapping.w_avg)
    assert resolve_start_class(G, "auto", target, FALLBACK) == (None, "unconditional")
    with pytest.raises(StyleGANError, match="not class-conditional"):
        resolve_start_class(G, 3, target, FALLBACK)


def test_the_class_is_inferred_from_the_closest_class_centre(G):
    with torch.no_grad():
        centre_image = G.synthesis(G.mapping.w_avg[4].expand(1, G.num_ws, -1))
    assert infer_classes(G, centre_image, FALLBACK)[0] == 4
    assert resolve_start_class(G, "auto", centre_image, FALLBACK)[0] == 4
    assert resolve_start_class(G, "1", centre_image, FALLBACK) == (1, "given")


def test_a_cached_classifier_is_used_for_imagenet_models(tmp_path, monkeypatch):
    """The real loading path, with a small randomly initialised DeiT standing in for the official one."""
    import safetensors.torch
    import timm

    name = "deit_tiny_distilled_patch16_224"
    classifier = timm.create_model(name, pretrained=False)
    path = tmp_path / f"{name}.safetensors"
    safetensors.torch.save_file(classifier.state_dict(), str(path))
    monkeypatch.setattr(inversion, "CLASSIFIER_NAME", name)
    monkeypatch.setenv("STYLEGAN_WEIGHTS", str(tmp_path))
    G = tiny_generator("stylegan-xl", c_dim=1000)
    target = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        expected = classifier.eval()(torch.nn.functional.interpolate(target, size=(224, 224))).argmax().item()
    class_index, how = resolve_start_class(G, "auto", target, FALLBACK)
    assert class_index == expected and how == f"classifier {name}"
    monkeypatch.setenv("STYLEGAN_WEIGHTS", str(tmp_path / "absent"))
    assert resolve_start_class(G, "auto", target, FALLBACK)[1].startswith("closest class centres")


# losses ----------------------------------------------------------------------------------------------------


def test_structural_measures():
    a = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(ssim(a, a), torch.ones(2)) and torch.allclose(multiscale_ssim(a, a), torch.ones(2))
    noisy = (a + 0.3 * torch.randn_like(a)).clamp(-1, 1)
    assert (ssim(a, noisy) < 0.9).all()
    assert torch.allclose(psnr(a, a + 0.02), torch.full([2], 10 * np.log10(4 / 0.0004)), atol=1e-3)
    assert FALLBACK(a, a[:1]).shape == (2,) and FALLBACK(a[:1], a[:1]).item() == pytest.approx(0, abs=1e-6)


def test_lpips_says_when_its_weights_are_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLEGAN_WEIGHTS", str(tmp_path))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    model, note = load_lpips()
    assert model is None and "vgg16-397923af.pth" in note and "pixel + multi-scale SSIM" in note


def test_lpips_loads_a_local_vgg16_checkpoint(tmp_path, monkeypatch):
    """The real loading path, with a randomly initialised VGG16 in torchvision's checkpoint layout."""
    import torchvision

    features = torchvision.models.vgg16().features.state_dict()
    checkpoint = tmp_path / "vgg16-397923af.pth"
    torch.save({f"features.{key}": value for key, value in features.items()}, checkpoint)
    monkeypatch.setenv("STYLEGAN_WEIGHTS", str(tmp_path))
    model, note = load_lpips()
    assert isinstance(model, LPIPS) and str(checkpoint) in note
    assert torch.equal(model.model.net.slice1[0].weight, features["0.weight"])
    assert torch.equal(getattr(model.model.net.slice5, "28").bias, features["28.bias"])
    a = torch.rand(2, 3, 64, 64) * 2 - 1
    assert torch.allclose(model(a, a), torch.zeros(2), atol=1e-6) and (model(a, a.flip(0)) > 0).all()
    big = torch.rand(1, 3, 512, 512) * 2 - 1
    assert model(big, big * 0.5).shape == (1,)  # downsampled to 256 first
    (tmp_path / "other").mkdir()
    torch.save({"classifier.0.weight": torch.zeros(1)}, tmp_path / "other" / "vgg16-397923af.pth")
    monkeypatch.setenv("STYLEGAN_WEIGHTS", str(tmp_path / "other"))
    assert load_lpips()[0] is None


# latent files ----------------------------------------------------------------------------------------------


def test_the_saved_latent_reproduces_the_reconstruction(G, target, tmp_path):
    projector = Projector(G, target, FALLBACK, class_index=2, space="w", num_steps=5)
    run_steps(projector)
    path = save_latent(tmp_path / "w.npz", projector.best_ws, 2, "w")
    ws, class_index = load_latent(path, G)
    assert class_index == 2 and ws.shape == (1, G.num_ws, G.w_dim)
    assert torch.equal(G.synthesis(ws), G.synthesis(projector.best_ws))
    np.savez(
        tmp_path / "official.npz", w=projector.best_ws[:, :1].numpy()
    )  # the official projector's [1, 1, C]
    assert torch.equal(load_latent(tmp_path / "official.npz", G)[0], ws)
    np.savez(tmp_path / "bad.npz", w=np.zeros([3, G.w_dim], dtype=np.float32))
    with pytest.raises(StyleGANError, match=r"`w` is \[3, "):
        load_latent(tmp_path / "bad.npz", G)
    with pytest.raises(StyleGANError, match="no such latent file"):
        load_latent(tmp_path / "none.npz", G)


def test_a_latent_given_as_an_array_saves_too(G, tmp_path):
    """The visualizer's inversion panel holds its result as a numpy [num_ws, w_dim] array."""
    ws = np.random.RandomState(0).randn(G.num_ws, G.w_dim).astype(np.float32)
    loaded, class_index = load_latent(save_latent(tmp_path / "panel.npz", ws, None, "w+"), G)
    assert class_index is None
    np.testing.assert_array_equal(loaded[0].numpy(), ws)


# command line ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_and_target(tmp_path_factory, G, target):
    folder = tmp_path_factory.mktemp("invert")
    model = stylegan.save(G, folder / "tiny.safetensors")
    pixels = ((target[0].permute(1, 2, 0) * 127.5 + 128).clamp(0, 255)).to(torch.uint8).numpy()
    PIL.Image.fromarray(pixels).save(folder / "target.png")
    return model, folder / "target.png"


def test_invert_writes_every_result(model_and_target, tmp_path):
    model, target_path = model_and_target
    result = CliRunner().invoke(main, ["invert", "-n", str(model), "--target", str(target_path), "--class", "2",
                                       "--steps", "40", "--pti-steps", "10", "--outdir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "pixel + multi-scale SSIM" in result.output  # says which loss it fell back to
    names = {"target.png", "proj.png", "proj_pti.png", "projected_w.npz", "metrics.json", "proj.mp4"}
    assert names | {"G_pti.safetensors"} == {p.name for p in tmp_path.iterdir()}
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["class"] == 2 and metrics["steps"] == 40 and metrics["pti_steps"] == 10
    assert metrics["pivot"]["psnr"] > 20 and metrics["pivot"]["lpips"] is None
    G = stylegan.load(model)
    ws, _ = load_latent(tmp_path / "projected_w.npz", G)
    proj = np.asarray(PIL.Image.open(tmp_path / "proj.png"))
    again = (G.synthesis(ws)[0].permute(1, 2, 0) * 127.5 + 128).clamp(0, 255).to(torch.uint8).numpy()
    np.testing.assert_array_equal(proj, again)
    tuned = stylegan.load(tmp_path / "G_pti.safetensors")
    assert tuned.metadata["pivot_class"] == 2


def test_ctrl_c_still_writes_the_best_result_so_far(model_and_target, tmp_path, monkeypatch):
    model, target_path = model_and_target
    real_step = Projector.step

    def step(self):
        if self.steps_done == 6:
            raise KeyboardInterrupt
        return real_step(self)

    monkeypatch.setattr(Projector, "step", step)
    result = CliRunner().invoke(main, ["invert", "-n", str(model), "--target", str(target_path), "--class", "2",
                                       "--steps", "50", "--outdir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 130 and "interrupted; wrote the best result so far" in result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["interrupted"] and metrics["steps"] == 6
    assert (tmp_path / "proj.png").exists() and (tmp_path / "projected_w.npz").exists()


def test_invert_errors_are_one_line(model_and_target, tmp_path):
    model, _ = model_and_target
    (tmp_path / "bad.jpg").write_text("no picture here")
    result = CliRunner().invoke(main, ["invert", "-n", str(model), "--target", str(tmp_path / "bad.jpg"),
                                       "--outdir", str(tmp_path / "out")])  # fmt: skip
    assert result.exit_code == 2 and result.output.startswith("error: ") and "not an image" in result.output
    assert not (tmp_path / "out").exists()
