"""StyleGAN2 synthesis: layout, official parameter names, noise modes, and one layer recomputed by hand."""

import math

import pytest
import torch

from stylegan.networks.stylegan2 import StyleGAN2Synthesis


def _synthesis(resolution=16, architecture="skip", seed=0, **kwargs):
    torch.manual_seed(seed)
    net = StyleGAN2Synthesis(
        w_dim=8,
        img_resolution=resolution,
        img_channels=3,
        channel_base=64,
        channel_max=8,
        architecture=architecture,
        conv_clamp=256,
        **kwargs,
    )
    with torch.no_grad():
        for name, parameter in net.named_parameters():
            if name.endswith("noise_strength") or (name.endswith("bias") and "affine" not in name):
                parameter.copy_(torch.randn(parameter.shape) * 0.5)
    return net.eval()


@pytest.mark.parametrize(("resolution", "num_ws"), [(4, 2), (8, 4), (16, 6), (32, 8), (1024, 18)])
def test_num_ws_follows_the_block_count(resolution, num_ws):
    net = StyleGAN2Synthesis(
        w_dim=4, img_resolution=resolution, img_channels=3, channel_base=2048, channel_max=2
    )
    assert net.num_ws == num_ws
    assert net.block_resolutions == [2**i for i in range(2, int(math.log2(resolution)) + 1)]


def test_parameter_names_are_the_official_ones():
    keys = set(_synthesis(resolution=8).state_dict())
    layer = [
        "affine.weight",
        "affine.bias",
        "weight",
        "bias",
        "noise_strength",
        "noise_const",
        "resample_filter",
    ]
    torgb = ["affine.weight", "affine.bias", "weight", "bias"]
    expected = {"b4.const", "b4.resample_filter", "b8.resample_filter"}
    expected |= {f"b4.conv1.{k}" for k in layer} | {f"b8.conv0.{k}" for k in layer}
    expected |= {f"b8.conv1.{k}" for k in layer}
    expected |= {f"b4.torgb.{k}" for k in torgb} | {f"b8.torgb.{k}" for k in torgb}
    assert keys == expected
    resnet = set(_synthesis(resolution=8, architecture="resnet").state_dict())
    assert "b8.skip.weight" in resnet and "b4.torgb.weight" not in resnet and "b8.torgb.weight" in resnet


def test_noise_modes():
    net = _synthesis()
    ws = torch.randn(2, net.num_ws, 8)
    const = net(ws, noise_mode="const")
    torch.testing.assert_close(net(ws, noise_mode="const"), const, rtol=0, atol=0)
    torch.manual_seed(5)
    random = net(ws, noise_mode="random")
    torch.manual_seed(5)
    torch.testing.assert_close(net(ws, noise_mode="random"), random, rtol=0, atol=0)
    assert (random - const).abs().max() > 1e-3
    none = net(ws, noise_mode="none")
    assert (none - const).abs().max() > 1e-3
    with torch.no_grad():
        for name, parameter in net.named_parameters():
            if name.endswith("noise_strength"):
                parameter.zero_()
    torch.testing.assert_close(net(ws, noise_mode="none"), net(ws, noise_mode="const"), rtol=0, atol=0)
    with pytest.raises(ValueError, match="noise_mode"):
        net(ws, noise_mode="loud")


def test_the_first_layer_recomputed_by_hand():
    net = _synthesis()
    layer = net.b4.conv1
    w = torch.randn(2, 8)
    x = net.b4.const.unsqueeze(0).repeat(2, 1, 1, 1)
    styles = torch.nn.functional.linear(w, layer.affine.weight / math.sqrt(8), layer.affine.bias)
    expected = []
    for sample in range(2):
        weight = layer.weight * styles[sample].reshape(1, -1, 1, 1)
        weight = weight / (weight.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
        y = torch.nn.functional.conv2d(x[sample : sample + 1], weight, padding=1)
        y = y + layer.noise_const * layer.noise_strength + layer.bias.reshape(1, -1, 1, 1)
        expected.append((torch.nn.functional.leaky_relu(y, 0.2) * math.sqrt(2)).clamp(-256, 256))
    torch.testing.assert_close(layer(x, w, noise_mode="const"), torch.cat(expected), rtol=1e-5, atol=1e-5)


def test_each_w_reaches_the_image():
    net = _synthesis(architecture="orig")
    ws = torch.randn(1, net.num_ws, 8)
    image = net(ws)
    for index in range(net.num_ws):
        changed = ws.clone()
        changed[:, index] += 1
        assert (net(changed) - image).abs().max() > 1e-4, index


def test_layer_list_and_bad_arguments():
    net = _synthesis(resolution=8)
    assert [row[0] for row in net.layer_list()] == [
        "b4.conv1",
        "b4.torgb",
        "b8.conv0",
        "b8.conv1",
        "b8.torgb",
    ]
    with pytest.raises(ValueError, match="power of two"):
        StyleGAN2Synthesis(w_dim=4, img_resolution=24, img_channels=3)
    with pytest.raises(ValueError, match="architecture"):
        StyleGAN2Synthesis(w_dim=4, img_resolution=8, img_channels=3, architecture="unet")
    with pytest.raises(ValueError, match="ws must have shape"):
        net(torch.randn(1, net.num_ws + 1, 8))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fp16_on_cuda_stays_close_to_fp32():
    net = _synthesis(resolution=32, num_fp16_res=2)
    ws = torch.randn(2, net.num_ws, 8)
    reference = net(ws)
    gpu = net.cuda()(ws.cuda())
    assert gpu.dtype == torch.float32
    torch.testing.assert_close(gpu.cpu(), reference, rtol=0.05, atol=0.05)
