"""stylegan.ops.conv2d_gradfix against torch's conv2d, and the path-length pass that skips weight gradients:
the same d/dws and parameter gradients, with no weight-gradient convolution run."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from stylegan.ops.conv2d_gradfix import conv2d, no_weight_gradients
from tests.tiny import latents, tiny_generator
from training.loss import LossOptions, StyleGANXLLoss

GEOMETRIES = [  # stride, padding, groups
    (1, 0, 1),
    (1, 2, 3),
    (2, (1, 0), 1),
    (2, 1, 3),
]


class WeightGradientCount(TorchDispatchMode):
    """Counts the convolution backward calls that compute a weight gradient, torch's own or conv2d_gradfix's."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten.convolution_backward.default and args[10][1]:
            self.count += 1
        return func(*args, **(kwargs or {}))


def operands(groups: int, shape: tuple[int, ...] = (2, 6, 9, 8)) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 input of `shape` and a 3x3 weight with as many output as input channels."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shape, dtype=torch.float64, generator=generator, requires_grad=True)
    w = torch.randn(
        shape[1], shape[1] // groups, 3, 3, dtype=torch.float64, generator=generator, requires_grad=True
    )
    return x, w


@pytest.mark.parametrize("stride, padding, groups", GEOMETRIES)
def test_values_and_gradients_of_every_order_equal_torch_conv2d(stride, padding, groups):
    x, w = operands(groups)

    def first_and_second_order(conv):
        y = conv(x, w, stride=stride, padding=padding, groups=groups)
        grads = torch.autograd.grad(y.sin().sum(), (x, w), create_graph=True)
        second = torch.autograd.grad(sum(g.square().sum() for g in grads), (x, w))
        return (y, *grads, *second)

    for ours, torchs in zip(first_and_second_order(conv2d), first_and_second_order(F.conv2d), strict=True):
        torch.testing.assert_close(ours, torchs, rtol=1e-12, atol=1e-12)


def test_third_order_gradients_are_exact():
    def grads(x, w):
        y = conv2d(x, w, stride=2, padding=1, groups=3)
        return torch.autograd.grad(y.square().sum(), (x, w), create_graph=True)

    assert torch.autograd.gradgradcheck(grads, operands(groups=3, shape=(1, 6, 5, 4)))


def test_no_weight_gradients_skips_the_weight_and_keeps_the_input_gradient():
    x, w = operands(groups=3)
    expected = torch.autograd.grad(F.conv2d(x, w, groups=3).sin().sum(), x)[0]
    y = conv2d(x, w, groups=3).sin().sum()
    with WeightGradientCount() as counter, no_weight_gradients():
        grad_x, grad_w = torch.autograd.grad(y, (x, w), allow_unused=True)
    assert grad_w is None and counter.count == 0
    torch.testing.assert_close(grad_x, expected, rtol=1e-12, atol=1e-12)
    with WeightGradientCount() as counter:
        assert torch.autograd.grad(conv2d(x, w, groups=3).sum(), w)[0] is not None
    assert counter.count == 1


def test_no_weight_gradients_restores_the_previous_state():
    x, w = operands(groups=1)
    with pytest.raises(RuntimeError), no_weight_gradients():
        with no_weight_gradients(False):  # does not re-enable inside an outer context
            assert torch.autograd.grad(conv2d(x, w).sum(), w, allow_unused=True) == (None,)
        raise RuntimeError
    assert torch.autograd.grad(conv2d(x, w).sum(), w)[0] is not None


@pytest.fixture(scope="module", params=[False, True], ids=["3x3", "radial-1x1"])
def G(request):  # noqa: N802 (the conventional name of a generator)
    G = tiny_generator(c_dim=3, radial=request.param).train()
    with torch.no_grad():  # as if trained: ws[:, 0] moves the Fourier input too
        G.synthesis.input.affine.weight.normal_()
    return G


def path_length_grads(G, fused: bool, skip: bool) -> torch.Tensor:  # noqa: N803
    """J^T y of the path-length penalty, with the modulated convolutions fused or not and weight gradients on or off."""
    z, c = latents(G, n=3)
    ws = G.mapping(z, c)
    images = G.synthesis(ws, fused_modconv=fused)
    y = torch.randn(images.shape, generator=torch.Generator().manual_seed(1))
    with no_weight_gradients(skip):
        return torch.autograd.grad((images * y).sum(), ws, create_graph=True)[0]


def test_path_length_gradient_wrt_ws_is_unchanged_by_skipping_weight_gradients(G):  # noqa: N803
    reference = path_length_grads(G, fused=True, skip=False)
    non_fused = path_length_grads(G, fused=False, skip=False)
    skipped = path_length_grads(G, fused=False, skip=True)
    assert torch.equal(skipped, non_fused)
    torch.testing.assert_close(
        skipped, reference, rtol=1e-4, atol=1e-5
    )  # fused vs not: float32 sums in another order
    assert reference[:, 1:].abs().amax() > 0.1 * reference.abs().amax()


def test_skipping_weight_gradients_of_fused_convolutions_would_drop_the_styles(G):  # noqa: N803
    """Why the path-length pass runs non-fused: fused, every layer's ws acts through the skipped weights."""
    truncated = path_length_grads(G, fused=True, skip=True)
    assert truncated[:, 0].abs().amax() > 0
    assert torch.all(truncated[:, 1:] == 0)


def path_length_step(G, skip: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor], int]:  # noqa: N803
    """The trainer's regulariser: its loss, the parameter gradients and the weight-gradient convolutions it ran."""
    loss = StyleGANXLLoss(G, None, LossOptions(pl_weight=2, pl_no_weight_grad=skip))
    z, c = latents(G, n=6)
    G.zero_grad(set_to_none=True)
    with WeightGradientCount() as counter:
        penalty, _ = loss.generator_path_length(z, c, torch.Generator().manual_seed(2))
    penalty.backward()
    grads = {name: p.grad.clone() for name, p in G.named_parameters() if p.grad is not None}
    return penalty.detach(), grads, counter.count


def test_path_length_regulariser_runs_no_weight_gradient_and_trains_the_same(G):  # noqa: N803
    penalty, grads, skipped_count = path_length_step(G, skip=True)
    reference_penalty, reference_grads, count = path_length_step(G, skip=False)
    assert skipped_count == 0
    assert count == len(G.synthesis.layer_names)
    torch.testing.assert_close(penalty, reference_penalty, rtol=1e-5, atol=1e-8)
    assert grads.keys() == reference_grads.keys() and len(grads) > 20
    for name, reference in reference_grads.items():
        torch.testing.assert_close(
            grads[name], reference, rtol=1e-4, atol=1e-5 * reference.abs().max().item()
        )
