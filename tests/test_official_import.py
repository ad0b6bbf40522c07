"""Official network pickles (written here in the official persistence layout) load into our modules exactly,
and nothing in them runs."""

import os
import pickle

import pytest
import torch
from official_layout import write_official_pickle
from tiny import latents, tiny_config, tiny_generator

import stylegan
from stylegan.errors import StyleGANError
from stylegan.networks.generator import Generator
from stylegan.networks.growth import grow


def _assert_same_generator(loaded, G):
    assert loaded.architecture == G.architecture
    assert (loaded.z_dim, loaded.c_dim, loaded.w_dim, loaded.num_ws) == (G.z_dim, G.c_dim, G.w_dim, G.num_ws)
    z, c = latents(G, n=2)
    for psi, cutoff in [(1.0, None), (0.7, 3)]:
        ws = G.mapping(z, c, truncation_psi=psi, truncation_cutoff=cutoff)
        torch.testing.assert_close(loaded.mapping(z, c, truncation_psi=psi, truncation_cutoff=cutoff), ws)
        torch.testing.assert_close(loaded.synthesis(ws), G.synthesis(ws))


@pytest.mark.parametrize(
    ("architecture", "c_dim", "radial"),
    [("stylegan-xl", 5, False), ("stylegan-xl", 5, True), ("stylegan3", 0, False), ("stylegan3", 4, True),
     ("stylegan2", 3, False), ("stylegan2", 0, False)],
)  # fmt: skip
def test_official_pickle_loads_exactly_without_running_its_source(tmp_path, architecture, c_dim, radial):
    G = tiny_generator(architecture, c_dim=c_dim, radial=radial)
    marker = tmp_path / "marker"
    path = write_official_pickle(G, tmp_path / "network.pkl", marker)
    loaded = stylegan.load(path)
    assert not marker.exists()
    assert loaded.metadata["official_class"] == "Generator"
    _assert_same_generator(loaded, G)


def test_unconditional_stylegan_xl_keeps_its_unused_class_table(tmp_path):
    config = tiny_config("stylegan-xl", c_dim=0)
    config["mapping_kwargs"]["embed_classes"] = 7
    G = Generator(**config).eval()
    loaded = stylegan.load(write_official_pickle(G, tmp_path / "uncond.pkl", tmp_path / "marker"))
    assert loaded.mapping.embed.weight.shape == (7, 320)
    _assert_same_generator(loaded, G)


def test_superres_pickle_records_the_frozen_stem(tmp_path):
    grown = grow(tiny_generator("stylegan-xl"), head_layers=4)
    path = write_official_pickle(grown, tmp_path / "superres.pkl", tmp_path / "marker", superres=True)
    loaded = stylegan.load(path)
    assert loaded.metadata["official_class"] == "SuperresGenerator"
    assert loaded.synthesis.stem_layers == grown.synthesis.stem_layers
    assert loaded.synthesis.layer_names == grown.synthesis.layer_names
    _assert_same_generator(loaded, grown)


def test_convert_then_load_gives_the_same_generator(tmp_path):
    G = tiny_generator("stylegan-xl")
    path = write_official_pickle(G, tmp_path / "network.pkl", tmp_path / "marker")
    converted = stylegan.load(stylegan.save(stylegan.load(path), tmp_path / "network.safetensors"))
    _assert_same_generator(converted, G)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_pickle_naming_os_system_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": _Exploit(marker)}))
    with pytest.raises(StyleGANError, match="system") as info:
        stylegan.load(path)
    assert "evil.pkl" in str(info.value)
    assert not marker.exists()


def test_pickle_without_a_generator_is_refused(tmp_path):
    path = tmp_path / "nothing.pkl"
    path.write_bytes(pickle.dumps({"D": None, "progress": {"cur_nimg": 3}}))
    with pytest.raises(StyleGANError, match="no generator"):
        stylegan.load(path)


def test_unknown_architecture_is_refused(tmp_path):
    G = tiny_generator("stylegan3")
    G.synthesis.input = torch.nn.Identity()  # neither a Fourier input nor StyleGAN2 blocks
    G.synthesis._modules["unknown"] = G.synthesis._modules.pop("input")
    path = write_official_pickle(G, tmp_path / "odd.pkl", tmp_path / "marker")
    with pytest.raises(StyleGANError, match="unsupported generator"):
        stylegan.load(path)
