"""The `stylegan` command: info, convert, and one-line errors with exit code 2."""

import subprocess
import sys

import torch
from click.testing import CliRunner
from official_layout import write_official_pickle
from tiny import latents, tiny_generator

import stylegan
from stylegan_cli import main


def test_info_prints_dimensions_and_the_layer_table():
    result = CliRunner().invoke(main, ["info", "stylegan-xl-tiny"])
    assert result.exit_code == 0, result.output
    G = stylegan.load("stylegan-xl-tiny")
    assert "32x32" in result.output
    assert f"num_ws                 {G.num_ws}" in result.output
    for name in G.synthesis.layer_names:
        assert name in result.output
    assert "frozen stem" in result.output


def test_info_on_a_stylegan2_checkpoint(tmp_path):
    path = stylegan.save(tiny_generator("stylegan2"), tmp_path / "sg2.safetensors")
    result = CliRunner().invoke(main, ["info", str(path)])
    assert result.exit_code == 0, result.output
    assert "stylegan2" in result.output and "b16" in result.output


def test_convert_writes_an_equivalent_checkpoint(tmp_path):
    G = tiny_generator("stylegan-xl")
    source = write_official_pickle(G, tmp_path / "net.pkl", tmp_path / "marker")
    dest = tmp_path / "out" / "net.safetensors"
    result = CliRunner().invoke(main, ["convert", str(source), str(dest)])
    assert result.exit_code == 0, result.output
    assert str(dest) in result.output
    z, c = latents(G)
    torch.testing.assert_close(stylegan.load(dest)(z, c), G(z, c))


def test_user_errors_print_one_line_and_exit_2(tmp_path):
    missing = tmp_path / "missing.pkl"
    process = subprocess.run(
        [sys.executable, "-m", "stylegan_cli", "info", str(missing)], capture_output=True, text=True
    )
    assert process.returncode == 2
    assert "Traceback" not in process.stderr
    assert process.stderr.strip().startswith("error:") and "missing.pkl" in process.stderr
    assert len(process.stderr.strip().splitlines()) == 1

    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not a pickle")
    result = CliRunner().invoke(main, ["convert", str(bad), str(tmp_path / "x.safetensors")])
    assert result.exit_code == 2 and "bad.pkl" in result.output
    assert not (tmp_path / "x.safetensors").exists()
