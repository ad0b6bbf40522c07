"""Layer-spec formulas and low-pass filter design."""

import numpy as np
import pytest
import torch

from stylegan.networks.presets import PRESETS, preset_config
from stylegan.networks.specs import LayerSpec, design_lowpass_filter, stem_specs, superres_specs


def _layers(name: str) -> list[LayerSpec]:
    return [LayerSpec(**layer) for layer in preset_config(name)["synthesis_kwargs"]["layers"]]


def test_stylegan3_t_1024_matches_the_published_layer_names():
    # The layer names of NVIDIA's stylegan3-t-ffhq-1024x1024 release.
    _, layers = stem_specs(1024, channel_base=32768, channel_max=512)
    assert [layer.name for layer in layers] == [
        "L0_36_512", "L1_36_512", "L2_52_512", "L3_52_512", "L4_84_512", "L5_148_512", "L6_148_512",
        "L7_276_323", "L8_276_203", "L9_532_128", "L10_1044_81", "L11_1044_51", "L12_1044_32",
        "L13_1024_32", "L14_1024_3",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("resolution", "num_ws"), [(16, 12), (32, 17), (64, 22), (128, 27), (256, 32), (512, 37), (1024, 40)]
)
def test_stylegan_xl_presets_grow_to_40_ws_at_1024(resolution, num_ws):
    config = preset_config(f"stylegan-xl-{resolution}")
    layers = _layers(f"stylegan-xl-{resolution}")
    assert config["img_resolution"] == resolution
    assert len(layers) + 1 == num_ws
    assert layers[-1].is_torgb and layers[-1].out_size == resolution and layers[-1].out_channels == 3
    assert [layer.is_torgb for layer in layers].count(True) == 1


@pytest.mark.parametrize("resolution", [16, 64, 1024])
def test_small_dataset_presets_grow_by_two_ws_per_stage(resolution):
    layers = _layers(f"stylegan-xl-small-{resolution}")
    stages = (resolution // 16).bit_length() - 1
    assert len(layers) + 1 == 9 + 2 * stages
    assert layers[0].out_channels == 512 and layers[-1].out_size == resolution


def test_stylegan_xl_1024_layout():
    layers = _layers("stylegan-xl-1024")
    assert len(layers) == 39
    names = [layer.name for layer in layers]
    assert names[-1] == "L39_1024_3"
    # The 16x16 stem keeps L0..L7; each stage appends after skipping one index.
    assert names[:9] == [f"L{i}_36_1024" for i in range(8)] + ["L9_36_1024"]
    critical = [layer.name for layer in layers if layer.is_critically_sampled]
    assert critical == ["L37_1044_64", "L38_1024_64", "L39_1024_3"]
    assert all(layer.out_size == 1024 for layer in layers[-2:])


@pytest.mark.parametrize("name", [n for n in PRESETS if PRESETS[n].architecture != "stylegan2"])
def test_layers_chain_and_cutoffs_grow(name):
    layers = _layers(name)
    for prev, layer in zip(layers, layers[1:], strict=False):
        assert layer.in_channels == prev.out_channels
        assert layer.in_size == prev.out_size
        assert layer.in_sampling_rate == prev.out_sampling_rate
        assert layer.in_cutoff == pytest.approx(prev.out_cutoff)
        assert layer.out_cutoff >= prev.out_cutoff - 1e-9
    for layer in layers:
        # Below Nyquist, and at Nyquist exactly for the critically sampled ones.
        assert layer.out_cutoff <= layer.out_sampling_rate / 2 + 1e-9
        assert layer.out_half_width > 0
        if layer.is_critically_sampled:
            assert layer.out_cutoff == pytest.approx(layer.out_sampling_rate / 2)


def test_superres_head_continues_from_the_last_kept_layer():
    _, stem = stem_specs(16, channel_base=4096, channel_max=64, num_layers=6)
    grown = superres_specs(stem, head_layers=4, up_factor=4, channel_base=4096, channel_max=64)
    kept = [layer for layer in stem if not layer.is_critically_sampled]
    assert grown[: len(kept)] == kept
    head = grown[len(kept) :]
    assert len(head) == 5
    assert head[0].name.startswith(f"L{len(kept) + 1}_")
    assert head[0].in_channels == kept[-1].out_channels
    assert head[0].in_sampling_rate == kept[-1].out_sampling_rate
    assert head[-1].out_size == 64 and head[-1].out_cutoff == pytest.approx(32)


def test_superres_rejects_bad_factors():
    _, stem = stem_specs(16, num_layers=6)
    with pytest.raises(ValueError, match="up_factor"):
        superres_specs(stem, head_layers=4, up_factor=3)
    with pytest.raises(ValueError, match="head_layers"):
        superres_specs(stem, head_layers=2, up_factor=2)


def _response(taps: np.ndarray, freq: float, fs: float) -> float:
    n = np.arange(len(taps)) - (len(taps) - 1) / 2
    return float(np.abs(np.sum(taps * np.exp(-2j * np.pi * freq / fs * n))))


def test_separable_lowpass_passes_dc_and_stops_above_the_band():
    cutoff, half_width, fs, numtaps = 8.0, 4.0, 64.0, 24
    taps = design_lowpass_filter(numtaps, cutoff, half_width * 2, fs).numpy().astype(np.float64)
    assert taps.shape == (numtaps,)
    assert taps.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(taps, taps[::-1], atol=1e-7)
    assert _response(taps, cutoff, fs) == pytest.approx(0.5, abs=0.02)  # -6 dB at the cutoff
    for freq in np.linspace(cutoff + half_width, fs / 2, 9):
        assert _response(taps, freq, fs) < 0.02
    for freq in np.linspace(0, cutoff - half_width, 9):
        assert _response(taps, freq, fs) == pytest.approx(1.0, abs=0.02)


def test_radial_lowpass_is_symmetric_and_normalised():
    taps = design_lowpass_filter(12, cutoff=6.0, width=4.0, fs=32.0, radial=True)
    assert taps.shape == (12, 12)
    assert float(taps.sum()) == pytest.approx(1.0, abs=1e-6)
    torch.testing.assert_close(taps, taps.t())
    torch.testing.assert_close(taps, taps.flip(0))
    torch.testing.assert_close(taps, taps.flip(1))


def test_single_tap_is_identity():
    assert design_lowpass_filter(1, cutoff=4.0, width=2.0, fs=16.0) is None
