"""DiffAugment: each operation does what it says, per image, reproducibly, and gradients pass through."""

import pytest
import torch

from training.augment import color, cutout, diff_augment, translation


def _generator(seed=0):
    return torch.Generator().manual_seed(seed)


def test_translation_shifts_whole_pixels_and_brings_in_zeros():
    x = torch.arange(1, 17, dtype=torch.float32).reshape(1, 1, 4, 4).repeat(64, 1, 1, 1)
    shifted = translation(x, _generator(), ratio=0.25)  # up to one pixel each way
    for image in shifted[:, 0]:
        # every output is the input moved by (dy, dx) in {-1, 0, 1}^2, with zeros where nothing came in
        matches = []
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                expected = torch.zeros(4, 4)
                src = x[0, 0]
                expected[max(dy, 0) : 4 + min(dy, 0), max(dx, 0) : 4 + min(dx, 0)] = src[
                    max(-dy, 0) : 4 + min(-dy, 0), max(-dx, 0) : 4 + min(-dx, 0)
                ]
                matches.append(torch.equal(image, expected))
        assert sum(matches) == 1
    assert len({tuple(image.flatten().tolist()) for image in shifted[:, 0]}) > 3  # shifts differ per image


def test_cutout_zeros_one_square_of_a_fifth_of_the_size():
    x = torch.ones(32, 3, 20, 20)
    out = cutout(x, _generator(1))
    zeros = (out[:, 0] == 0).sum(dim=(1, 2))
    assert (zeros <= 16).all() and (zeros == 16).any() and (zeros > 0).all()  # 4x4, clipped at borders
    assert torch.equal(out[:, 0], out[:, 2])  # the same hole in every channel


def test_color_changes_brightness_saturation_and_contrast_per_image():
    x = torch.rand(16, 3, 8, 8, generator=_generator(2)) * 2 - 1
    out = color(x, _generator(3))
    assert out.shape == x.shape and not torch.allclose(out, x)
    assert len(set(out.mean(dim=(1, 2, 3)).tolist())) == 16


def test_the_policy_is_reproducible_and_differentiable():
    x = (torch.rand(4, 3, 16, 16, generator=_generator(4)) * 2 - 1).requires_grad_(True)
    a = diff_augment(x, generator=_generator(5))
    b = diff_augment(x, generator=_generator(5))
    assert torch.equal(a, b) and not torch.equal(a, diff_augment(x, generator=_generator(6)))
    a.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert torch.equal(diff_augment(x, policy=()), x)
    with pytest.raises(ValueError, match="unknown augmentation"):
        diff_augment(x, policy=["blur"])
