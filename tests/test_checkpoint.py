"""Our safetensors format: exact round trip, metadata, and clear errors for bad files."""

import json
import struct

import pytest
import safetensors.torch
import torch
from tiny import latents, tiny_generator

import stylegan
from stylegan.errors import StyleGANError


@pytest.mark.parametrize("architecture", ["stylegan-xl", "stylegan3", "stylegan2"])
def test_round_trip_is_exact(tmp_path, architecture):
    G = tiny_generator(architecture)
    path = stylegan.save(G, tmp_path / "model.safetensors", class_names=["a", "b", "c", "d", "e"])
    loaded = stylegan.load(path)
    assert loaded.config == G.config
    assert loaded.metadata["class_names"] == ["a", "b", "c", "d", "e"]
    original, restored = G.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    for key in original:
        assert torch.equal(original[key], restored[key]), key
    z, c = latents(G)
    torch.testing.assert_close(loaded(z, c), G(z, c), rtol=0, atol=0)


def test_checkpoint_holds_no_pickle(tmp_path):
    path = stylegan.save(tiny_generator(), tmp_path / "model.safetensors")
    (header_length,) = struct.unpack("<Q", path.read_bytes()[:8])
    header = json.loads(path.read_bytes()[8 : 8 + header_length])
    config = json.loads(header["__metadata__"]["config"])
    assert config["architecture"] == "stylegan-xl"


def test_presets_load_by_name():
    G = stylegan.load("stylegan-xl-tiny")
    assert G.img_resolution == 32 and G.c_dim == 10 and G.metadata["random_init"]
    again = stylegan.load("stylegan-xl-tiny")
    z, c = latents(G)
    torch.testing.assert_close(again(z, c), G(z, c), rtol=0, atol=0)


def test_failed_save_keeps_the_previous_file(tmp_path):
    G = tiny_generator()
    path = stylegan.save(G, tmp_path / "model.safetensors", note="first")
    before = path.read_bytes()
    with pytest.raises(TypeError):
        stylegan.save(G, path, note=object())  # not JSON-serialisable: a bug, not a user error
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a readable"),
        (b'\x10\x00\x00\x00\x00\x00\x00\x00{"a": 1', "not a readable"),
        (b"just some text, not a model", "not a readable"),
    ],
)
def test_corrupt_files_raise_one_clear_error(tmp_path, content, message):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(content)
    with pytest.raises(StyleGANError, match=message) as info:
        stylegan.load(path)
    assert "broken.safetensors" in str(info.value)


def test_foreign_safetensors_file_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    safetensors.torch.save_file({"x": torch.zeros(2)}, str(path))
    with pytest.raises(StyleGANError, match="not a stylegan-studio checkpoint"):
        stylegan.load(path)


def test_truncated_checkpoint_is_refused(tmp_path):
    path = stylegan.save(tiny_generator(), tmp_path / "model.safetensors")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(StyleGANError, match="model.safetensors"):
        stylegan.load(path)


def test_weights_that_do_not_match_the_config_are_refused(tmp_path):
    G = tiny_generator()
    path = stylegan.save(G, tmp_path / "model.safetensors")
    header = stylegan.io.checkpoint.read_header(path)
    tensors = safetensors.torch.load_file(str(path))
    tensors.pop("mapping.w_avg")
    metadata = {"format": "stylegan-studio", "format_version": "1", "config": json.dumps(header["config"])}
    safetensors.torch.save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(StyleGANError, match="do not match"):
        stylegan.load(path)


def test_missing_path_directory_and_bad_suffix(tmp_path):
    with pytest.raises(StyleGANError, match="no such file"):
        stylegan.load(tmp_path / "nope.safetensors")
    with pytest.raises(StyleGANError, match="directory"):
        stylegan.load(tmp_path)
    with pytest.raises(StyleGANError, match=".safetensors"):
        stylegan.save(tiny_generator(), tmp_path / "model.pt")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(StyleGANError, match="not a model file"):
        stylegan.load(tmp_path / "notes.txt")


def test_a_checkpoint_whose_header_length_starts_with_0x80_is_not_taken_for_a_pickle(tmp_path):
    """The first byte of a .safetensors file is the low byte of its header's length; 0x80 is a pickle's mark."""
    G = tiny_generator()
    for padding in range(256):
        path = stylegan.save(G, tmp_path / "model.safetensors", note="x" * padding)
        if path.read_bytes()[0] == 0x80:
            break
    else:
        pytest.skip("no padding gave a header length ending in 0x80")
    assert stylegan.load(path).config == G.config
    renamed = path.rename(tmp_path / "model.bin")  # no telling suffix: the content decides
    assert stylegan.load(renamed).config == G.config
