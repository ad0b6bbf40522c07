"""Progressive growth: the next stage keeps the stem's function and trains only the head."""

import pytest
import torch
from tiny import latents, tiny_generator

import stylegan
from stylegan.errors import StyleGANError
from stylegan.networks.growth import freeze_stem, grow


def _capture(G, name):
    store = {}
    getattr(G.synthesis, name).register_forward_hook(lambda module, args, out: store.__setitem__("out", out))
    return store


@pytest.mark.parametrize("up_factor", [2, 4])
def test_growth_keeps_the_stem_output_unchanged(up_factor):
    stem = tiny_generator("stylegan-xl")
    grown = grow(stem, head_layers=4, up_factor=up_factor, seed=3)
    assert grown.img_resolution == stem.img_resolution * up_factor
    kept = grown.synthesis.layer_names[: grown.synthesis.stem_layers]
    assert kept == [spec.name for spec in stem.synthesis.layer_specs if not spec.is_critically_sampled]

    z, c = latents(stem)
    ws_stem, ws_grown = stem.mapping(z, c), grown.mapping(z, c)
    torch.testing.assert_close(ws_grown[:, : stem.num_ws], ws_stem, rtol=0, atol=0)
    before, after = _capture(stem, kept[-1]), _capture(grown, kept[-1])
    stem.synthesis(ws_stem)
    image = grown.synthesis(ws_grown)
    torch.testing.assert_close(after["out"], before["out"], rtol=0, atol=0)
    assert image.shape == (2, 3, grown.img_resolution, grown.img_resolution)


def test_growth_names_skip_one_index_and_num_ws_follows():
    stem = tiny_generator("stylegan-xl")
    grown = grow(stem, head_layers=4)
    kept = grown.synthesis.stem_layers
    head = grown.synthesis.head_layer_names
    assert [int(name.split("_")[0][1:]) for name in head] == list(range(kept + 1, kept + 6))
    assert grown.num_ws == stem.num_ws - 2 + 4
    twice = grow(grown, head_layers=3)
    assert twice.num_ws == grown.num_ws - 2 + 3 and twice.img_resolution == 64


def test_only_the_head_trains_after_freezing_the_stem():
    grown = grow(tiny_generator("stylegan-xl"), head_layers=4).train()
    head_parameters = freeze_stem(grown)
    z, c = latents(grown)
    grown(z, c).square().mean().backward()
    head_ids = {id(p) for p in head_parameters}
    for name, parameter in grown.named_parameters():
        if id(parameter) in head_ids:
            assert parameter.requires_grad and parameter.grad is not None, name
        else:
            assert not parameter.requires_grad and parameter.grad is None, name
    assert head_ids and len(head_ids) < len(list(grown.parameters()))


def test_grown_generator_round_trips(tmp_path):
    grown = grow(tiny_generator("stylegan-xl"), head_layers=4)
    loaded = stylegan.load(stylegan.save(grown, tmp_path / "g.safetensors"))
    assert loaded.synthesis.stem_layers == grown.synthesis.stem_layers
    z, c = latents(grown)
    torch.testing.assert_close(loaded(z, c), grown(z, c), rtol=0, atol=0)


def test_stylegan2_cannot_grow():
    with pytest.raises(StyleGANError, match="alias-free"):
        grow(tiny_generator("stylegan2"))
