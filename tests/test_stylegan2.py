"""StyleGAN2 synthesis: layout, official parameter names, noise modes, w routing, gradients, and layers recomputed
by hand with plain torch convolutions."""

import math

import pytest
import torch

from stylegan.networks.stylegan2 import StyleGAN2Synthesis

W_DIM = 8


def _synthesis(resolution=16, architecture="skip", seed=0, **kwargs):
    """A tiny network whose biases and noise strengths are non-zero, so that every term shows in the output."""
    torch.manual_seed(seed)
    options = dict(channel_base=128, channel_max=8, conv_clamp=256, architecture=architecture)
    options.update(kwargs)
    net = StyleGAN2Synthesis(w_dim=W_DIM, img_resolution=resolution, img_channels=3, **options)
    with torch.no_grad():
        for name, parameter in net.named_parameters():
            if name.endswith("noise_strength") or (name.endswith("bias") and "affine" not in name):
                parameter.copy_(torch.randn(parameter.shape) * 0.5)
    return net.eval()


def _capture_layers(net):
    """Attach forward hooks to every conv/torgb layer; returns the dict they fill, keyed by module name."""
    outputs = {}
    for name, module in net.named_modules():
        if name.rsplit(".", 1)[-1] in ("conv0", "conv1", "torgb"):
            module.register_forward_hook(
                lambda _m, _i, out, name=name: outputs.__setitem__(name, out.detach())
            )
    return outputs


@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
@pytest.mark.parametrize(("resolution", "num_ws"), [(4, 2), (8, 4), (16, 6), (32, 8), (1024, 18)])
def test_num_ws_and_blocks_follow_the_resolution(architecture, resolution, num_ws):
    net = StyleGAN2Synthesis(
        w_dim=4,
        img_resolution=resolution,
        img_channels=3,
        channel_base=2048,
        channel_max=2,
        architecture=architecture,
    )
    assert net.num_ws == num_ws
    assert net.block_resolutions == [2**i for i in range(2, int(math.log2(resolution)) + 1)]
    assert (net.w_dim, net.img_resolution, net.img_channels) == (4, resolution, 3)


@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
def test_output_shape_and_dtype(architecture):
    net = _synthesis(resolution=16, architecture=architecture)
    image = net(torch.randn(2, net.num_ws, W_DIM, dtype=torch.float64))
    assert image.shape == (2, 3, 16, 16)
    assert image.dtype == torch.float32


def test_state_dict_keys_are_the_official_ones():
    layer = [
        "resample_filter",
        "affine.weight",
        "affine.bias",
        "weight",
        "noise_const",
        "noise_strength",
        "bias",
    ]
    torgb = ["affine.weight", "affine.bias", "weight", "bias"]
    expected_skip = (
        ["b4.const", "b4.resample_filter"]
        + [f"b4.conv1.{key}" for key in layer]
        + [f"b4.torgb.{key}" for key in torgb]
        + ["b8.resample_filter"]
        + [f"b8.conv0.{key}" for key in layer]
        + [f"b8.conv1.{key}" for key in layer]
        + [f"b8.torgb.{key}" for key in torgb]
    )
    assert sorted(_synthesis(resolution=8).state_dict()) == sorted(expected_skip)

    expected_resnet = (
        ["b4.const", "b4.resample_filter"]
        + [f"b4.conv1.{key}" for key in layer]
        + ["b8.resample_filter"]
        + [f"b8.conv0.{key}" for key in layer]
        + [f"b8.conv1.{key}" for key in layer]
        + [f"b8.torgb.{key}" for key in torgb]
        + ["b8.skip.resample_filter", "b8.skip.weight"]
    )
    assert sorted(_synthesis(resolution=8, architecture="resnet").state_dict()) == sorted(expected_resnet)

    orig = set(_synthesis(resolution=8, architecture="orig").state_dict())
    assert orig == set(expected_skip) - {f"b4.torgb.{key}" for key in torgb}

    quiet = set(_synthesis(resolution=8, use_noise=False).state_dict())
    assert quiet == {key for key in expected_skip if "noise" not in key}


def test_parameter_shapes_follow_the_channel_layout():
    net = _synthesis(resolution=16, channel_base=64, channel_max=8, kernel_size=5)
    shapes = {name: tuple(tensor.shape) for name, tensor in net.state_dict().items()}
    # channels: 4 -> min(64 // 4, 8) = 8, 8 -> 8, 16 -> 4
    assert shapes["b4.const"] == (8, 4, 4)
    assert shapes["b4.conv1.weight"] == (8, 8, 5, 5)
    assert shapes["b4.conv1.affine.weight"] == (8, W_DIM)
    assert shapes["b16.conv0.weight"] == (4, 8, 5, 5)
    assert shapes["b16.conv0.affine.weight"] == (8, W_DIM)
    assert shapes["b16.conv1.noise_const"] == (16, 16)
    assert shapes["b16.conv1.noise_strength"] == ()
    assert shapes["b16.torgb.weight"] == (3, 4, 1, 1)
    assert shapes["b16.resample_filter"] == (4, 4)


def test_noise_modes():
    net = _synthesis()
    ws = torch.randn(2, net.num_ws, W_DIM)
    const = net(ws, noise_mode="const")
    torch.testing.assert_close(net(ws, noise_mode="const"), const, rtol=0, atol=0)
    assert torch.equal(net(ws), const)  # 'const' is the default

    torch.manual_seed(5)
    random = net(ws, noise_mode="random")
    assert (random - net(ws, noise_mode="random")).abs().max() > 1e-3  # fresh noise on each call
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
    torch.testing.assert_close(net(ws, noise_mode="none"), net(ws, noise_mode="random"), rtol=0, atol=0)

    with pytest.raises(ValueError, match="noise_mode"):
        net(ws, noise_mode="loud")


def test_const_noise_is_the_stored_buffer():
    net = _synthesis()
    ws = torch.randn(1, net.num_ws, W_DIM)
    before = net(ws)
    with torch.no_grad():
        net.b16.conv1.noise_const.add_(1)
    assert (net(ws) - before).abs().max() > 1e-4


def test_each_w_reaches_only_the_layers_that_use_it():
    net = _synthesis(resolution=16, architecture="skip")
    outputs = _capture_layers(net)
    order = [
        "b4.conv1",
        "b4.torgb",
        "b8.conv0",
        "b8.conv1",
        "b8.torgb",
        "b16.conv0",
        "b16.conv1",
        "b16.torgb",
    ]
    # Each block's ToRGB shares its w with the next block's conv0.
    consumers = {
        0: ["b4.conv1"],
        1: ["b4.torgb", "b8.conv0"],
        2: ["b8.conv1"],
        3: ["b8.torgb", "b16.conv0"],
        4: ["b16.conv1"],
        5: ["b16.torgb"],
    }
    assert net.num_ws == len(consumers)
    ws = torch.randn(1, net.num_ws, W_DIM)
    image = net(ws)
    reference = dict(outputs)
    assert list(reference) == order
    for index, users in consumers.items():
        changed_ws = ws.clone()
        changed_ws[:, index] += 1
        changed_image = net(changed_ws)
        assert (changed_image - image).abs().max() > 1e-4, index
        changed = {name for name in order if (outputs[name] - reference[name]).abs().max() > 0}
        assert set(users) <= changed, index
        first = min(order.index(name) for name in users)
        assert not changed & set(order[:first]), index
    # The last w feeds the final ToRGB only.
    assert changed == {"b16.torgb"}


@pytest.mark.parametrize("architecture", ["orig", "resnet"])
def test_each_w_changes_the_image(architecture):
    net = _synthesis(architecture=architecture)
    ws = torch.randn(1, net.num_ws, W_DIM)
    image = net(ws)
    for index in range(net.num_ws):
        changed = ws.clone()
        changed[:, index] += 1
        assert (net(changed) - image).abs().max() > 1e-4, index


def test_ws_of_the_wrong_shape_are_refused():
    net = _synthesis(resolution=8)
    for shape in [
        (1, net.num_ws + 1, W_DIM),
        (1, net.num_ws - 1, W_DIM),
        (1, net.num_ws, W_DIM + 1),
        (net.num_ws, W_DIM),
    ]:
        with pytest.raises(ValueError, match="ws must have shape"):
            net(torch.randn(shape))


@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
def test_gradients_reach_every_parameter(architecture):
    net = _synthesis(resolution=16, architecture=architecture).train()
    ws = torch.randn(2, net.num_ws, W_DIM, requires_grad=True)
    image = net(ws, noise_mode="const")
    (image * torch.randn(image.shape)).sum().backward()
    for name, parameter in net.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert ws.grad.abs().sum(dim=(0, 2)).min() > 0


@pytest.mark.parametrize("architecture", ["skip", "resnet"])
def test_fused_and_unfused_modulation_agree(architecture):
    net = _synthesis(architecture=architecture)
    ws = torch.randn(3, net.num_ws, W_DIM)
    fused = net(ws, fused_modconv=True)
    torch.testing.assert_close(net(ws, fused_modconv=False), fused, rtol=1e-5, atol=1e-5)
    lazy = _synthesis(architecture=architecture, fused_modconv_default="inference_only")
    torch.testing.assert_close(lazy(ws), fused, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lazy.train()(ws), fused, rtol=1e-5, atol=1e-5)


def test_cpu_runs_in_float32_even_with_fp16_blocks():
    net = _synthesis(resolution=16, num_fp16_res=2)
    assert [getattr(net, f"b{res}").use_fp16 for res in net.block_resolutions] == [False, True, True]
    outputs = _capture_layers(net)
    net(torch.randn(1, net.num_ws, W_DIM))
    assert {tensor.dtype for tensor in outputs.values()} == {torch.float32}


def test_conv_clamp_bounds_every_layer():
    net = _synthesis(resolution=8, conv_clamp=0.5)
    outputs = _capture_layers(net)
    net(torch.randn(2, net.num_ws, W_DIM) * 10)
    assert max(tensor.abs().max() for tensor in outputs.values()) <= 0.5
    assert min(tensor.abs().max() for tensor in outputs.values()) == 0.5


def _modulated_weights(layer, w, demodulate):
    """Per-sample weights [N, O, I, k, k] computed directly from the definition."""
    styles = torch.nn.functional.linear(w, layer.affine.weight / math.sqrt(W_DIM), layer.affine.bias)
    weights = layer.weight.unsqueeze(0) * styles[:, None, :, None, None]
    if demodulate:
        weights = weights / (weights.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).sqrt()
    return weights


def _noise_bias_act(layer, y, gain=1.0):
    y = y + layer.noise_const * layer.noise_strength + layer.bias.reshape(1, -1, 1, 1)
    return (torch.nn.functional.leaky_relu(y, 0.2) * math.sqrt(2) * gain).clamp(-256 * gain, 256 * gain)


@pytest.mark.parametrize("fused", [True, False])
def test_a_synthesis_layer_recomputed_by_hand(fused):
    net = _synthesis()
    layer = net.b4.conv1
    w = torch.randn(2, W_DIM)
    x = torch.randn(2, layer.in_channels, 4, 4)
    weights = _modulated_weights(layer, w, demodulate=True)
    expected = torch.cat([torch.nn.functional.conv2d(x[n : n + 1], weights[n], padding=1) for n in range(2)])
    expected = _noise_bias_act(layer, expected, gain=0.7)
    actual = layer(x, w, noise_mode="const", fused_modconv=fused, gain=0.7)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def _upsample_by_hand(x, pad_before, pad_after):
    """Zero insertion to twice the size, padding, then the [1, 3, 3, 1] low-pass with gain 4 (the official
    upsampling filter, normalised to unit sum per axis)."""
    channels, height, width = x.shape[1:]
    upsampled = torch.zeros(x.shape[0], channels, 2 * height, 2 * width)
    upsampled[:, :, ::2, ::2] = x
    padded = torch.nn.functional.pad(upsampled, [pad_before, pad_after, pad_before, pad_after])
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    kernel = (torch.outer(taps, taps) / taps.sum() ** 2 * 4).expand(channels, 1, 4, 4)
    return torch.nn.functional.conv2d(padded, kernel.flip([2, 3]), groups=channels)


def test_an_upsampling_layer_recomputed_by_hand():
    """conv0: upsampling as above, then a true 3x3 convolution (the weights flipped)."""
    net = _synthesis()
    layer = net.b8.conv0
    w = torch.randn(2, W_DIM)
    x = torch.randn(2, layer.in_channels, 4, 4)
    # Pad 3 before and 2 after: the 4-tap filter and the 3x3 kernel together keep the output at 8x8.
    filtered = _upsample_by_hand(x, 3, 2)
    weights = _modulated_weights(layer, w, demodulate=True).flip([3, 4])
    expected = torch.cat([torch.nn.functional.conv2d(filtered[n : n + 1], weights[n]) for n in range(2)])
    expected = _noise_bias_act(layer, expected)
    torch.testing.assert_close(layer(x, w, noise_mode="const"), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("architecture", ["skip", "orig"])
def test_the_image_sums_the_upsampled_torgb_outputs(architecture):
    net = _synthesis(resolution=16, architecture=architecture)
    outputs = _capture_layers(net)
    image = net(torch.randn(2, net.num_ws, W_DIM))
    if architecture == "orig":
        torch.testing.assert_close(image, outputs["b16.torgb"], rtol=0, atol=0)
        return
    expected = outputs["b4.torgb"]
    for res in (8, 16):
        expected = _upsample_by_hand(expected, 2, 1) + outputs[f"b{res}.torgb"]
    torch.testing.assert_close(image, expected, rtol=1e-5, atol=1e-5)


def test_torgb_recomputed_by_hand():
    net = _synthesis()
    layer = net.b16.torgb
    w = torch.randn(2, W_DIM)
    x = torch.randn(2, layer.in_channels, 16, 16)
    weights = _modulated_weights(layer, w, demodulate=False) / math.sqrt(layer.in_channels)
    expected = torch.einsum("noi,nihw->nohw", weights[:, :, :, 0, 0], x) + layer.bias.reshape(1, -1, 1, 1)
    torch.testing.assert_close(layer(x, w), expected.clamp(-256, 256), rtol=1e-5, atol=1e-5)


def test_layer_list():
    net = _synthesis(resolution=8, num_fp16_res=1)
    rows = [(row.name, row.size, row.channels, row.fp16) for row in net.layers()]
    assert rows == [
        ("b4.conv1", 4, 8, False),
        ("b4.torgb", 4, 3, False),
        ("b8.conv0", 8, 8, True),
        ("b8.conv1", 8, 8, True),
        ("b8.torgb", 8, 3, True),
    ]
    assert all(row.sampling_rate is None and row.cutoff is None for row in net.layers())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(img_resolution=24), "power of two"),
        (dict(img_resolution=2), "power of two"),
        (dict(architecture="unet"), "architecture"),
        (dict(activation="gelu-ish"), "activation"),
        (dict(fused_modconv_default="sometimes"), "fused_modconv_default"),
        (dict(channel_base=16, img_resolution=32), "channel_base"),
    ],
)
def test_bad_constructor_arguments(options, message):
    arguments = dict(w_dim=4, img_resolution=8, img_channels=3) | options
    with pytest.raises(ValueError, match=message):
        StyleGAN2Synthesis(**arguments)


@pytest.mark.gpu
@pytest.mark.gpu
def test_fp16_on_cuda_stays_close_to_fp32(monkeypatch):
    # TF32 convolutions would blur the float32 comparison below.
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    net = _synthesis(resolution=32, num_fp16_res=2)
    ws = torch.randn(2, net.num_ws, W_DIM)
    reference = net(ws)
    net = net.cuda()
    outputs = _capture_layers(net)
    image = net(ws.cuda())
    assert image.dtype == torch.float32
    assert outputs["b32.conv1"].dtype == torch.float16 and outputs["b8.conv1"].dtype == torch.float32
    torch.testing.assert_close(image.cpu(), reference, rtol=0.05, atol=0.05)
    torch.testing.assert_close(net(ws.cuda(), force_fp32=True).cpu(), reference, rtol=1e-4, atol=1e-4)
