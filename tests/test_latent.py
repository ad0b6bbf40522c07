"""The latent toolkit: seeds, classes, truncation, interpolation, keyframe paths and style mixing."""

import copy

import numpy as np
import pytest
import torch
from tiny import tiny_generator

from stylegan.errors import StyleGANError
from stylegan.latent import (
    Endpoint,
    class_from_seed,
    class_names,
    compute_centroids,
    interpolate,
    invert_layers,
    keyframe_path,
    layer_groups,
    load_centroids,
    map_to_w,
    nearest_centroids,
    one_hot,
    parse_class_list,
    parse_int_list,
    parse_layers,
    path_ws,
    resolve_class,
    seed_classes,
    slerp,
    style_mix,
    synthesize,
    z_from_seed,
    z_from_seeds,
)


@pytest.fixture(scope="module")
def G(G):  # noqa: N802 (the conventional name of a generator)
    return G.eval().requires_grad_(False)


def _image(G, seed, class_index, psi=1.0):
    z = z_from_seeds([seed], G.z_dim)
    return synthesize(G, map_to_w(G, z, one_hot([class_index], G.c_dim), psi))


# seeds -----------------------------------------------------------------------------------------------------


def test_seeds_follow_the_official_convention():
    for seed in (0, 1, 42, 2**32 - 1):
        np.testing.assert_array_equal(z_from_seed(seed, 64), np.random.RandomState(seed).randn(64))
    z = z_from_seeds([3, 7], 16)
    assert z.dtype == torch.float32
    np.testing.assert_array_equal(z[1].numpy(), np.random.RandomState(7).randn(16).astype(np.float32))
    assert class_from_seed(42, 1000) == np.random.RandomState(42).randint(low=0, high=1000)


def test_same_seed_same_image(G):
    first, second = _image(G, 5, 2), _image(G, 5, 2)
    assert torch.equal(first, second)
    assert not torch.equal(first, _image(G, 6, 2))


@pytest.mark.parametrize(
    ("text", "expected"), [("0-3,7", [0, 1, 2, 3, 7]), ("42", [42]), (" 1, 2 ", [1, 2]), ("5-5", [5])]
)
def test_parse_int_list(text, expected):
    assert parse_int_list(text) == expected


@pytest.mark.parametrize("text", ["", "a", "1,,2", "5-2", "-1", "1.5", str(2**32)])
def test_parse_int_list_rejects_bad_lists(text):
    with pytest.raises(StyleGANError, match="seed"):
        parse_int_list(text)


# classes ---------------------------------------------------------------------------------------------------


def test_imagenet_models_get_the_imagenet_class_names():
    G = tiny_generator("stylegan-xl", c_dim=1000)
    names = class_names(G)
    assert len(names) == 1000 and names[0] == "tench" and names[207] == "golden retriever"
    assert resolve_class(G, "golden retriever") == 207
    assert resolve_class(G, "GOLDEN RET") == 207
    assert resolve_class(G, "207") == 207 and resolve_class(G, 281) == 281
    assert parse_class_list(G, "tabby,0-2, 207") == [281, 0, 1, 2, 207]
    with pytest.raises(StyleGANError, match="matches several classes.*golden retriever"):
        resolve_class(G, "retriever")
    with pytest.raises(StyleGANError, match="no class is called"):
        resolve_class(G, "unicorn")
    with pytest.raises(StyleGANError, match="out of range.*0 to 999"):
        resolve_class(G, 1000)


def test_class_names_from_metadata_win(G):
    named = tiny_generator("stylegan-xl", c_dim=3)
    named.metadata = {"class_names": ["cat", "dog", "hot dog"]}
    assert class_names(named) == ["cat", "dog", "hot dog"]
    assert resolve_class(named, "dog") == 1  # an exact name beats the longer one containing it
    assert resolve_class(named, "HOT") == 2
    assert class_names(G) is None
    with pytest.raises(StyleGANError, match="no class names"):
        resolve_class(G, "dog")


def test_classes_on_an_unconditional_model_are_an_error():
    G = tiny_generator("stylegan-xl", c_dim=0)
    with pytest.raises(StyleGANError, match="not class-conditional"):
        resolve_class(G, 1)
    with pytest.raises(StyleGANError, match="not class-conditional"):
        seed_classes(G, [1], 0)
    assert seed_classes(G, [1, 2], None) == [0, 0]


def test_a_conditional_model_without_a_class_uses_the_seeds_official_draw(G):
    assert seed_classes(G, [0, 1, 2], None) == [class_from_seed(seed, G.c_dim) for seed in (0, 1, 2)]
    assert seed_classes(G, [0, 1], 4) == [4, 4]


# truncation ------------------------------------------------------------------------------------------------


def test_truncation_pulls_towards_the_class_centre(G):
    z = z_from_seeds([1, 2], G.z_dim)
    c = one_hot([1, 3], G.c_dim)
    ws = map_to_w(G, z, c, psi=0)
    assert torch.allclose(ws[0], G.mapping.w_avg[1].expand_as(ws[0]))
    assert torch.allclose(ws[1], G.mapping.w_avg[3].expand_as(ws[1]))
    free, cut = map_to_w(G, z, c), map_to_w(G, z, c, psi=0.5, cutoff=2)
    assert torch.equal(cut[:, 2:], free[:, 2:])
    assert torch.allclose(cut[:, :2], G.mapping.w_avg[[1, 3]].unsqueeze(1).lerp(free[:, :2], 0.5))


def test_multimodal_truncation_pulls_towards_the_nearest_centroid(G):
    z, c = z_from_seeds([1, 2, 3], G.z_dim), one_hot([0, 1, 2], G.c_dim)
    free = map_to_w(G, z, c)
    centroids = torch.stack([free[0, 0] + 0.01, free[2, 0] - 0.01, free[1, 0] + 0.02])
    assert torch.equal(nearest_centroids(free[:, 0], centroids), centroids[[0, 2, 1]])
    ws = map_to_w(G, z, c, psi=0, centroids=centroids)
    assert torch.equal(ws[1], centroids[2].expand_as(ws[1]))
    half = map_to_w(G, z, c, psi=0.5, cutoff=3, centroids=centroids)
    assert torch.equal(half[:, 3:], free[:, 3:])
    assert torch.allclose(half[0, :3], centroids[0].lerp(free[0, :3], 0.5))


def test_load_centroids_checks_the_file(tmp_path, G):
    good = tmp_path / "c.npy"
    np.save(good, np.ones([4, G.w_dim], dtype=np.float32))
    assert load_centroids(good, G.w_dim).shape == (4, G.w_dim)
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.ones([4, G.w_dim + 1]))
    with pytest.raises(StyleGANError, match=r"\[K, 32\]"):
        load_centroids(wrong, G.w_dim)
    text = tmp_path / "text.npy"
    text.write_text("not numpy")
    with pytest.raises(StyleGANError, match="not a .npy"):
        load_centroids(text, G.w_dim)
    with pytest.raises(StyleGANError, match="no such centroids file"):
        load_centroids(tmp_path / "missing.npy", G.w_dim)


def test_computed_centroids_are_k_means_fixed_points(G):
    centroids = compute_centroids(G, num_samples=600, num_centroids=6, seed=3, iterations=200, batch_size=128)
    assert centroids.shape == (6, G.w_dim) and centroids.dtype == np.float32
    # The same samples, assigned to their nearest centroid, have those centroids as their means.
    rng = np.random.RandomState(3)
    samples = []
    for n in (128, 128, 128, 128, 88):
        z = torch.from_numpy(rng.randn(n, G.z_dim)).float()
        samples.append(G.mapping(z, one_hot(list(rng.randint(0, G.c_dim, size=n)), G.c_dim))[:, 0])
    samples = torch.cat(samples)
    assignment = torch.cdist(samples, torch.from_numpy(centroids)).argmin(1)
    assert len(assignment.unique()) == 6
    for k in range(6):
        np.testing.assert_allclose(samples[assignment == k].mean(0).numpy(), centroids[k], atol=1e-5)


# noise -----------------------------------------------------------------------------------------------------


def test_noise_seed_makes_random_noise_repeatable():
    G = tiny_generator("stylegan2", c_dim=0)
    for name, parameter in G.named_parameters():
        if name.endswith("noise_strength"):
            parameter.data.fill_(0.5)
    ws = map_to_w(G, z_from_seeds([1, 2], G.z_dim), one_hot([0, 0], 0))
    a = synthesize(G, ws, "random", noise_seed=7)
    assert torch.equal(a, synthesize(G, ws, "random", noise_seed=7))
    assert torch.equal(a[1:], synthesize(G, ws[1:], "random", noise_seed=7))  # independent of the batch
    assert not torch.equal(a, synthesize(G, ws, "random", noise_seed=8))
    assert not torch.equal(a, synthesize(G, ws, "const"))
    with pytest.raises(StyleGANError, match="noise mode"):
        synthesize(G, ws, "loud")


# interpolation ---------------------------------------------------------------------------------------------


def test_slerp_endpoints_lengths_and_angles():
    a, b = torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([[0.0, 4.0, 0.0]])
    assert torch.equal(slerp(a, b, 0.0), a) and torch.equal(slerp(a, b, 1.0), b)
    middle = slerp(a, b, 0.5)
    assert torch.allclose(middle.norm(), torch.tensor(3.0))
    assert torch.allclose(middle / middle.norm(), torch.tensor([[1.0, 1.0, 0.0]]) / 2**0.5)
    rows = slerp(a.repeat(3, 1), b.repeat(3, 1), torch.tensor([0.0, 0.5, 1.0]))
    assert torch.equal(rows[0], a[0]) and torch.allclose(rows[1], middle[0]) and torch.equal(rows[2], b[0])
    assert torch.allclose(slerp(a, 3 * a, 0.5), 2 * a)  # parallel vectors: plain lerp


@pytest.mark.parametrize("space", ["w", "z"])
def test_interpolation_endpoints_are_the_endpoint_images_and_the_path_is_continuous(G, space):
    a, b = Endpoint(seed=1, class_index=0), Endpoint(seed=9, class_index=4)
    t = torch.linspace(0, 1, 101)
    ws = interpolate(G, a, b, t, space=space, psi=0.7)
    images = synthesize(G, ws)
    assert torch.allclose(images[0], _image(G, 1, 0, psi=0.7)[0], atol=1e-6)
    assert torch.allclose(images[-1], _image(G, 9, 4, psi=0.7)[0], atol=1e-6)
    steps = (images[1:] - images[:-1]).abs().amax(dim=(1, 2, 3))
    span = (images[-1] - images[0]).abs().max()
    assert span > 0.05 and steps.max() < span / 10


def test_class_interpolation_moves_continuously_between_the_class_images(G):
    """Same seed, two classes, in z space: the class embedding (and the truncation centre) are blended."""
    a, b = Endpoint(seed=4, class_index=1), Endpoint(seed=4, class_index=3)
    ws = interpolate(G, a, b, torch.linspace(0, 1, 51), space="z", psi=0.6)
    images = synthesize(G, ws)
    assert torch.allclose(images[0], _image(G, 4, 1, psi=0.6)[0], atol=1e-6)
    assert torch.allclose(images[-1], _image(G, 4, 3, psi=0.6)[0], atol=1e-6)
    steps = (images[1:] - images[:-1]).abs().amax(dim=(1, 2, 3))
    assert steps.max() < (images[-1] - images[0]).abs().max() / 5
    # Halfway, the mapping saw the mean of the two class embeddings.
    embed = G.mapping.embed.weight
    middle = G.mapping.embed_class(torch.tensor([[0, 0.5, 0, 0.5, 0]]))
    expected = G.mapping.embed_class(torch.tensor([[0, 1.0, 0, 0, 0]]))
    assert not torch.allclose(middle, expected)
    mixed = G.mapping.embed_proj((embed[1] + embed[3]).unsqueeze(0) / 2)
    assert torch.allclose(middle, mixed / mixed.square().mean().sqrt(), atol=1e-6)


def test_a_given_w_endpoint_interpolates_in_w_only(G):
    w = torch.randn(G.num_ws, G.w_dim)
    ws = interpolate(G, Endpoint(w=w), Endpoint(seed=2, class_index=1), [0.0, 1.0])
    assert torch.equal(ws[0], w)
    with pytest.raises(StyleGANError, match="interpolate in w"):
        interpolate(G, Endpoint(w=w), Endpoint(seed=2), [0.5], space="z")
    with pytest.raises(StyleGANError, match="shape"):
        interpolate(G, Endpoint(w=torch.zeros(3)), Endpoint(seed=2), [0.5])
    with pytest.raises(StyleGANError, match="either a seed"):
        Endpoint(seed=1, w=w)


# keyframe paths ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("easing", ["linear", "cubic"])
@pytest.mark.parametrize("loop", [False, True])
def test_keyframe_paths_pass_through_every_keyframe(easing, loop):
    path = keyframe_path(4, 10, easing, loop)
    assert path.num_frames == (40 if loop else 31)
    np.testing.assert_allclose(path.weights.sum(axis=1), 1, atol=1e-12)
    keys = torch.randn(4, 3, dtype=torch.float64)
    values = path.blend(keys)
    for k in range(4):
        assert torch.equal(values[10 * k], keys[k])
    steps = (values[1:] - values[:-1]).norm(dim=1)
    assert steps.max() < 3 * steps.mean()  # no jumps
    if loop:  # the frame after the last one is the first keyframe again
        last_step = (values[0] - values[-1]).norm()
        assert last_step < 3 * steps.mean()


def _velocity_jumps(easing: str) -> float:
    """The largest change of velocity at a keyframe, relative to the mean velocity along the path."""
    path = keyframe_path(4, 1000, easing, loop=True)
    values = path.blend(torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    mean_step = (values[1:] - values[:-1]).norm(dim=1).mean()
    jumps = [(values[1000 * k + 1] - 2 * values[1000 * k] + values[1000 * k - 1]).norm() for k in range(4)]
    return float(max(jumps) / mean_step)


def test_cubic_paths_have_continuous_velocity_at_keyframes():
    assert _velocity_jumps("cubic") < 0.02
    assert _velocity_jumps("linear") > 0.5  # the measure does see a corner


def test_path_frames_follow_the_keyframe_images(G):
    ends = [Endpoint(seed=s, class_index=c) for s, c in ((1, 0), (2, 2), (3, 4))]
    path = keyframe_path(3, 5, "cubic", loop=True)
    for space in ("w", "z"):
        ws = path_ws(G, ends, path, space=space, psi=0.8)
        assert ws.shape == (15, G.num_ws, G.w_dim)
        for k, end in enumerate(ends):
            single = path_ws(G, [end], keyframe_path(1, 1), space=space, psi=0.8)[0]
            assert torch.allclose(ws[5 * k], single, atol=1e-6)
        part = path_ws(G, ends, path, frames=slice(6, 9), space=space, psi=0.8)
        assert torch.allclose(part, ws[6:9], atol=1e-6)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [((0, 5), "at least one keyframe"), ((3, 0), "at least 1"), ((3, 5, "bouncy"), "unknown easing")],
)
def test_bad_paths_are_errors(arguments, message):
    with pytest.raises(StyleGANError, match=message):
        keyframe_path(*arguments)


# style mixing ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_ws", [12, 16, 17, 18, 22, 27, 32, 37, 40])
def test_layer_groups_split_every_layout_in_depth_order(num_ws):
    groups = layer_groups(num_ws)
    coarse, middle, fine = groups["coarse"], groups["middle"], groups["fine"]
    assert coarse and middle and fine
    assert coarse + middle + fine == list(range(num_ws)) == groups["all"]
    assert len(fine) >= len(coarse)


def test_layer_groups_match_stylegan2_at_18_ws():
    groups = layer_groups(18)
    assert groups["coarse"] == [0, 1, 2, 3] and groups["middle"] == [4, 5, 6, 7] and groups["fine"][0] == 8


def test_parse_layers():
    assert parse_layers("0-2,5", 12) == [0, 1, 2, 5]
    assert parse_layers("coarse", 40) == list(range(9))
    assert parse_layers("Coarse, fine", 18) == [0, 1, 2, 3] + list(range(8, 18))
    assert invert_layers([0, 1, 5], 6) == [2, 3, 4]
    with pytest.raises(StyleGANError, match="unknown layer group 'corse'.*0-11"):
        parse_layers("corse", 12)
    with pytest.raises(StyleGANError, match="layer 12 is out of range"):
        parse_layers("10-12", 12)


def test_style_mixing_changes_only_the_chosen_layers(G):
    z, c = z_from_seeds([1, 2], G.z_dim), one_hot([0, 1], G.c_dim)
    ws = map_to_w(G, z, c)
    layers = parse_layers("middle", G.num_ws)  # (w 0 drives the input, which starts with zero weights)
    mixed = style_mix(ws[:1], ws[1:], layers)
    outside = invert_layers(layers, G.num_ws)
    assert torch.equal(mixed[0, outside], ws[0, outside])
    assert torch.equal(mixed[0, layers], ws[1, layers])
    assert not torch.equal(mixed, ws[:1])
    assert not torch.equal(synthesize(G, mixed), synthesize(G, ws[:1]))
    # one row against several columns broadcasts
    assert style_mix(ws[:1], ws, [0]).shape == ws.shape


@pytest.mark.gpu
@pytest.mark.gpu
def test_the_toolkit_gives_the_same_latents_on_cuda(G):
    cuda = copy.deepcopy(G).cuda()
    ends = [Endpoint(seed=1, class_index=0), Endpoint(seed=2), Endpoint(seed=3, class_index=4)]
    path = keyframe_path(3, 4, "cubic", loop=True)
    centroids = torch.from_numpy(compute_centroids(cuda, 200, 3, iterations=5))
    assert centroids.shape == (3, G.w_dim)
    for space in ("w", "z"):
        on_gpu = path_ws(cuda, ends, path, space=space, psi=0.7, centroids=centroids.cuda())
        on_cpu = path_ws(G, ends, path, space=space, psi=0.7, centroids=centroids)
        torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=1e-4, atol=1e-4)
    noisy = tiny_generator("stylegan2", c_dim=0).cuda()
    ws = map_to_w(noisy, z_from_seeds([1], noisy.z_dim, "cuda"), one_hot([0], 0, "cuda"))
    assert torch.equal(synthesize(noisy, ws, "random", 3), synthesize(noisy, ws, "random", 3))
