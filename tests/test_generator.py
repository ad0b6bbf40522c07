"""Mapping, alias-free synthesis and the Generator wrapper."""

import pytest
import torch
from tiny import latents, tiny_generator

from stylegan.errors import StyleGANError
from stylegan.networks.mapping import MappingNetwork


@pytest.mark.parametrize("architecture", ["stylegan-xl", "stylegan3", "stylegan2"])
def test_generator_output_shape_and_determinism(architecture):
    G = tiny_generator(architecture)
    z, c = latents(G, n=3)
    img = G(z, c)
    assert img.shape == (3, 3, 16, 16) and img.dtype == torch.float32
    assert torch.isfinite(img).all() and img.std() > 0
    torch.testing.assert_close(G(z, c), img, rtol=0, atol=0)
    ws = G.mapping(z, c)
    assert ws.shape == (3, G.num_ws, G.w_dim)
    torch.testing.assert_close(G.synthesis(ws), img, rtol=0, atol=0)


def test_per_class_truncation_pulls_each_sample_to_its_own_class_centre():
    G = tiny_generator("stylegan-xl", c_dim=5)
    z, c = latents(G, n=4)
    ws = G.mapping(z, c)
    centres = G.mapping.w_avg[c.argmax(1)]
    ws0 = G.mapping(z, c, truncation_psi=0)
    torch.testing.assert_close(ws0, centres.unsqueeze(1).expand_as(ws0))
    ws_half = G.mapping(z, c, truncation_psi=0.5, truncation_cutoff=3)
    expected = centres.unsqueeze(1) + 0.5 * (ws[:, :3] - centres.unsqueeze(1))
    torch.testing.assert_close(ws_half[:, :3], expected)
    torch.testing.assert_close(ws_half[:, 3:], ws[:, 3:], rtol=0, atol=0)


@pytest.mark.parametrize("architecture", ["stylegan3", "stylegan2"])
def test_linear_embedding_truncates_towards_the_global_centre(architecture):
    G = tiny_generator(architecture, c_dim=5)
    z, c = latents(G, n=3)
    ws0 = G.mapping(z, c, truncation_psi=0)
    torch.testing.assert_close(ws0, G.mapping.w_avg.expand_as(ws0))


def test_mapping_ignores_the_scale_of_z():
    G = tiny_generator("stylegan-xl")
    z, c = latents(G)
    torch.testing.assert_close(G.mapping(z * 7.5, c), G.mapping(z, c))


def test_class_changes_w():
    G = tiny_generator("stylegan-xl", c_dim=5)
    z, _ = latents(G, n=1)
    ws = [G.mapping(z, torch.nn.functional.one_hot(torch.tensor([k]), 5).float()) for k in range(5)]
    assert all((ws[0] - other).abs().max() > 1e-3 for other in ws[1:])


def test_w_avg_tracking_updates_only_the_seen_classes():
    torch.manual_seed(0)
    mapping = MappingNetwork(z_dim=8, c_dim=4, w_dim=8, num_ws=3, w_avg_beta=0.5)
    z = torch.randn(3, 8)
    c = torch.nn.functional.one_hot(torch.tensor([1, 1, 3]), 4).float()
    w = mapping(z, c)[:, 0]
    mapping(z, c, update_emas=True)
    avg = mapping.w_avg
    torch.testing.assert_close(avg[0], torch.zeros(8))
    torch.testing.assert_close(avg[2], torch.zeros(8))
    torch.testing.assert_close(avg[3], 0.5 * w[2])
    # Class 1 was seen twice: two sequential updates.
    torch.testing.assert_close(avg[1], 0.5 * w[1] + 0.25 * w[0])


def test_mapping_rejects_wrong_shapes():
    G = tiny_generator("stylegan-xl", c_dim=5)
    with pytest.raises(ValueError, match="z must have shape"):
        G.mapping(torch.randn(2, 3), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="c must have shape"):
        G.mapping(torch.randn(2, G.z_dim), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="class-conditional"):
        G.mapping(torch.randn(2, G.z_dim), None)
    with pytest.raises(ValueError, match="ws must have shape"):
        G.synthesis(torch.randn(2, G.num_ws - 1, G.w_dim))


@pytest.mark.parametrize("radial", [False, True])
def test_every_alias_free_layer_produces_its_spec_size(radial):
    G = tiny_generator("stylegan3", radial=radial)
    shapes = {}
    for name in G.synthesis.layer_names:
        getattr(G.synthesis, name).register_forward_hook(
            lambda module, args, out, name=name: shapes.__setitem__(name, tuple(out.shape))
        )
    z, c = latents(G)
    G(z, c)
    for spec in G.synthesis.layer_specs:
        assert shapes[spec.name] == (2, spec.out_channels, spec.out_size, spec.out_size)


def test_input_transform_moves_the_image():
    G = tiny_generator("stylegan-xl")
    z, c = latents(G, n=1)
    ws = G.mapping(z, c)
    base = G.synthesis(ws)
    G.set_input_transform(0.3, 0.1, 0.0)
    angle = torch.tensor(0.3)
    expected = torch.tensor([[angle.cos(), angle.sin(), 0.1], [-angle.sin(), angle.cos(), 0.0], [0, 0, 1]])
    torch.testing.assert_close(G.synthesis.input.transform, expected)
    moved = G.synthesis(ws)
    assert (moved - base).abs().max() > 1e-2
    G.set_input_transform()
    torch.testing.assert_close(G.synthesis(ws), base, rtol=0, atol=0)


def test_what_a_generator_says_about_itself():
    alias_free, stylegan2 = tiny_generator("stylegan-xl"), tiny_generator("stylegan2")
    assert alias_free.device == torch.device("cpu") and stylegan2.device == torch.device("cpu")
    assert alias_free.to("meta").device.type == "meta"
    assert alias_free.is_alias_free and not stylegan2.is_alias_free
    alias_free = tiny_generator("stylegan-xl")
    names = [row.name for row in alias_free.layers()]
    assert names == ["input", *alias_free.synthesis.layer_names]
    assert alias_free.layers()[-1].size == alias_free.img_resolution
    assert all(row.sampling_rate is not None for row in alias_free.layers())
    assert [row.name for row in stylegan2.layers()][-1].endswith("torgb")
    stylegan2.set_input_transform()  # the identity is fine: nothing to move
    with pytest.raises(StyleGANError, match="no input transform"):
        stylegan2.set_input_transform(0.5, 0.0, 0.0)


def test_gradients_reach_every_parameter():
    G = tiny_generator("stylegan-xl").train().requires_grad_(True)
    z, c = latents(G)
    G(z, c).square().mean().backward()
    for name, parameter in G.named_parameters():
        if name.startswith("mapping.embed."):
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0
        else:
            assert parameter.grad is not None, name


def test_magnitude_ema_tracks_input_magnitude_in_training():
    G = tiny_generator("stylegan-xl")
    before = {n: b.clone() for n, b in G.named_buffers() if n.endswith("magnitude_ema")}
    z, c = latents(G)
    G(z, c, update_emas=True)
    after = {n: b for n, b in G.named_buffers() if n.endswith("magnitude_ema")}
    assert all(not torch.equal(before[n], after[n]) for n in before)


@pytest.mark.gpu
@pytest.mark.gpu
def test_fp16_layers_on_cuda_stay_close_to_fp32_on_cpu():
    G = tiny_generator("stylegan-xl")
    assert any(spec.use_fp16 for spec in G.synthesis.layer_specs)
    z, c = latents(G)
    reference = G(z, c)
    image = G.cuda()(z.cuda(), c.cuda())
    assert image.dtype == torch.float32
    torch.testing.assert_close(image.cpu(), reference, rtol=0.05, atol=0.05)
    torch.testing.assert_close(G(z.cuda(), c.cuda(), force_fp32=True).cpu(), reference, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("architecture", ["stylegan-xl", "stylegan3", "stylegan2"])
def test_unconditional_generators_need_no_class(architecture):
    G = tiny_generator(architecture, c_dim=0)
    z, c = latents(G)
    assert c.shape == (2, 0)
    torch.testing.assert_close(G(z), G(z, c), rtol=0, atol=0)
    torch.testing.assert_close(G(z, truncation_psi=0), G.synthesis(G.mapping.w_avg.expand(2, G.num_ws, -1)))
