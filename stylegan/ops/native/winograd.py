"""The compiled 3x3 convolution (winograd.c): the filter transform, the packing, and the passes over threads.

Winograd's F(4x4, 3x3) does a quarter of the multiplications of the direct convolution. In float32 its
rounding error is about 1e-5 of the output's scale, 20-30 times that of the direct convolution and far below
what the generator's outputs are compared at. conv2d_gradfix runs its forward pass, its input's gradient (a
convolution too) and its weight's gradient (weight_gradient) through it, each where it gains.
"""

from __future__ import annotations

import ctypes

import torch

from stylegan.ops import native

OP = "conv2d (Winograd)"  # what the kernel's errors name
BLOCK = 16  # output channels per block of the packed filters (winograd.c)
VECTOR = 16  # floats per vector: the padding of the tile axis
# Multiply-adds of the direct convolution per sample and group below which it is as fast as the kernel, whose
# passes cost some fixed time (measured here: 64 channels at 38x38 outputs, 53 M, 1.3x faster; at 22x22, 0.8x).
MIN_WORK = 30_000_000
# The same for the weight's gradient, whose copies to channels-innermost cost more (64 channels at 38x38:
# 0.9-1.3x; 128 channels, 213 M: 1.2-1.3x; 128 channels at 86x86: 2x).
MIN_WEIGHT_GRADIENT_WORK = 100_000_000
# Bytes of the transformed signals (36 values per tile and channel, 2.25x the output each) that one call may
# allocate; above, as for the top layers of a 1024x1024 generator, the direct convolution, whose memory is the
# output's alone, runs instead.
MAX_SCRATCH_BYTES = 256 << 20

_c_int, _ptr = ctypes.c_int, ctypes.c_void_p
_SIGNATURES = {
    "winograd_filters": [_ptr, *[_c_int] * 3, _ptr, _c_int, _c_int],
    "winograd_input": [_ptr, *[_c_int] * 8, _ptr, _c_int, _c_int],
    "winograd_multiply": [_ptr, _ptr, _ptr, *[_c_int] * 5],
    "winograd_output": [_ptr, _ptr, *[_c_int] * 8],
    "winograd_input_by_channel": [_ptr, _c_int, _c_int, _ptr, *[_c_int] * 4],
    "winograd_gradient_by_channel": [_ptr, _c_int, _c_int, _ptr, *[_c_int] * 4],
}
# G of F(4x4, 3x3): U = G g G^T, and the weight's gradient is G^T dU G.
_G = torch.tensor(
    [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
     [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]
)  # fmt: skip


def kernel() -> ctypes.CDLL | None:
    lib = native.library("winograd")
    if lib is not None and lib.winograd_input.argtypes is None:
        for name, argtypes in _SIGNATURES.items():
            function = getattr(lib, name)
            function.argtypes, function.restype = argtypes, ctypes.c_int
        lib.winograd_parallel.restype = ctypes.c_int
    return lib


def _parallel() -> bool:
    """Whether the kernel shares its items among OpenMP threads itself (else the caller splits them)."""
    return bool(kernel().winograd_parallel())


def supports(x: torch.Tensor, weight: torch.Tensor, stride, padding, groups: int) -> bool:
    """Whether conv3x3 computes this call: float32 on the CPU, a 3x3 filter, stride 1, enough work."""
    return weight.dtype == torch.float32 and _supported(x, weight.shape, stride, padding, groups, MIN_WORK, 1)


def supports_input_gradient(grad: torch.Tensor, weight: torch.Tensor, stride, padding, groups: int) -> bool:
    """Whether input_gradient computes the input's gradient of such a convolution (see supports): a
    convolution of the output's gradient, with the filters transposed and flipped, padded by 2 - padding."""
    transposed = _transposed_padding(padding)
    if weight.dtype != torch.float32 or min(transposed) < 0:
        return False
    out_channels, in_channels = weight.shape[:2]
    shape = (groups * in_channels, out_channels // groups, *weight.shape[2:])
    return _supported(grad, shape, stride, transposed, groups, MIN_WORK, 1)


def input_gradient(grad: torch.Tensor, weight: torch.Tensor, padding: tuple[int, int], groups: int):
    """torch.nn.grad.conv2d_input for a 3x3 weight at stride 1 (see supports_input_gradient)."""
    out_channels, in_channels, kh, kw = weight.shape
    per_group = out_channels // groups
    grouped = weight.reshape(groups, per_group, in_channels, kh, kw).transpose(1, 2).flip(3, 4)
    flipped = grouped.reshape(groups * in_channels, per_group, kh, kw)
    return conv3x3(grad, flipped, _transposed_padding(padding), groups)


def _transposed_padding(padding) -> tuple[int, int]:
    return tuple(2 - pad for pad in padding)


def supports_weight_gradient(
    x: torch.Tensor, grad: torch.Tensor, weight_shape, stride, padding, groups
) -> bool:
    """Whether weight_gradient computes the weight's gradient of such a convolution (see supports)."""
    # The gradient sums over the tiles of all samples at once: its scratch holds them all.
    return grad.dtype == torch.float32 and _supported(
        x, weight_shape, stride, padding, groups, MIN_WEIGHT_GRADIENT_WORK, x.shape[0]
    )


def _supported(
    x: torch.Tensor, weight_shape, stride, padding, groups: int, min_work: int, samples: int
) -> bool:
    """The shared conditions; `samples` is how many samples' transforms one scratch buffer holds."""
    if x.device.type != "cpu" or x.dtype != torch.float32 or x.ndim != 4:
        return False
    if tuple(weight_shape[2:]) != (3, 3) or tuple(stride) != (1, 1):
        return False
    out_h, out_w = (x.shape[2 + axis] + 2 * padding[axis] - 2 for axis in range(2))
    work = weight_shape[0] // groups * weight_shape[1] * 9 * out_h * out_w
    if out_h < 1 or out_w < 1 or work < min_work:
        return False
    tiles = -(-out_h // 4) * -(-out_w // 4) * samples
    channels = -(-weight_shape[1] // BLOCK) * BLOCK + -(-weight_shape[0] // groups // BLOCK) * BLOCK
    if 36 * 4 * (tiles + VECTOR) * channels > MAX_SCRATCH_BYTES:
        return False
    return kernel() is not None


def conv3x3(x: torch.Tensor, weight: torch.Tensor, padding: tuple[int, int], groups: int) -> torch.Tensor:
    """torch.nn.functional.conv2d(x, weight, padding=padding, groups=groups) for a 3x3 weight (see supports)."""
    lib = kernel()
    N, _, H, W = x.shape
    out_channels, C = weight.shape[:2]
    per_group = out_channels // groups
    out_h, out_w = H + 2 * padding[0] - 2, W + 2 * padding[1] - 2
    tiles_y, tiles_x = -(-out_h // 4), -(-out_w // 4)
    stride = -(-tiles_y * tiles_x // VECTOR) * VECTOR
    blocks = -(-per_group // BLOCK)
    weight = weight.detach().contiguous()
    U = x.new_empty([groups, 36, blocks, C, BLOCK])
    x = x.detach().contiguous()
    y = x.new_empty([N, out_channels, out_h, out_w])
    V = x.new_empty([36, C, stride])
    M = x.new_empty([36 * blocks * BLOCK * stride + VECTOR])  # the output pass reads a vector past a row
    parallel = _parallel()

    def filters(begin, end):
        return lib.winograd_filters(weight.data_ptr(), per_group, C, blocks, U.data_ptr(), begin, end)

    native.over_items(filters, groups * blocks, parallel, OP)
    for n in range(N):
        for group in range(groups):
            source = x[n, group * C : (group + 1) * C]
            target = y[n, group * per_group : (group + 1) * per_group]
            packed = U[group]

            def inputs(begin, end, source=source):
                return lib.winograd_input(
                    source.data_ptr(), C, H, W, *padding, tiles_y, tiles_x, stride, V.data_ptr(), begin, end
                )

            def products(begin, end, packed=packed):
                return lib.winograd_multiply(
                    packed.data_ptr(), V.data_ptr(), M.data_ptr(), C, blocks, stride, begin, end
                )

            def outputs(begin, end, target=target):
                return lib.winograd_output(
                    M.data_ptr(), target.data_ptr(), blocks * BLOCK, stride, tiles_y, tiles_x, out_h, out_w,
                    begin, end,
                )  # fmt: skip

            for run, count in ((inputs, C), (products, 36 * blocks), (outputs, per_group)):
                native.over_items(run, count, parallel, OP)
    return y


def weight_gradient(
    x: torch.Tensor, grad: torch.Tensor, weight_shape, padding: tuple[int, int], groups: int
) -> torch.Tensor:
    """torch.nn.grad.conv2d_weight(x, weight_shape, grad, 1, padding, 1, groups) for a 3x3 weight (see
    supports_weight_gradient)."""
    C, per_group = weight_shape[1], weight_shape[0] // groups
    return torch.cat(
        [
            _group_weight_gradient(
                x[:, group * C : (group + 1) * C].detach(),
                grad[:, group * per_group : (group + 1) * per_group],
                padding,
            )
            for group in range(groups)
        ]
    )


def _group_weight_gradient(x: torch.Tensor, grad: torch.Tensor, padding: tuple[int, int]) -> torch.Tensor:
    """One group's [O, C, 3, 3]: the sum over the tiles of every sample of (A gy A^T) * (B^T d B), as one of
    36 products each, then G^T . G."""
    lib, parallel = kernel(), _parallel()
    N, C, H, W = x.shape
    out_channels, out_h, out_w = grad.shape[1:]
    tiles_y, tiles_x = -(-out_h // 4), -(-out_w // 4)
    tiles = tiles_y * tiles_x
    in_padded, out_padded = -(-C // BLOCK) * BLOCK, -(-out_channels // BLOCK) * BLOCK
    blocks = out_padded // BLOCK
    pad_y, pad_x = padding
    # Channels innermost and in whole blocks, zero-padded so that the window of every tile lies inside.
    xs = x.new_zeros([N, 4 * tiles_y + 2, 4 * tiles_x + 2, in_padded])
    xs[:, pad_y : pad_y + H, pad_x : pad_x + W, :C] = x.permute(0, 2, 3, 1)
    gs = grad.new_zeros([N, 4 * tiles_y, 4 * tiles_x, out_padded])
    gs[:, :out_h, :out_w, :out_channels] = grad.permute(0, 2, 3, 1)
    V = x.new_empty([36, N * tiles, in_padded])
    GY = x.new_empty([36, blocks, N * tiles, BLOCK])
    M = x.new_empty([36, out_padded, in_padded])
    for n in range(N):
        native.over_items(
            lambda begin, end, n=n: lib.winograd_input_by_channel(
                xs[n].data_ptr(), in_padded, tiles_x, V.data_ptr(), N * tiles, n * tiles, begin, end
            ),
            tiles * (in_padded // BLOCK),
            parallel,
            OP,
        )
        native.over_items(
            lambda begin, end, n=n: lib.winograd_gradient_by_channel(
                gs[n].data_ptr(), out_padded, tiles_x, GY.data_ptr(), N * tiles, n * tiles, begin, end
            ),
            tiles * blocks,
            parallel,
            OP,
        )
    native.over_items(
        lambda begin, end: lib.winograd_multiply(
            GY.data_ptr(), V.data_ptr(), M.data_ptr(), N * tiles, blocks, in_padded, begin, end
        ),
        36 * blocks,
        parallel,
        OP,
    )
    dU = M.view(6, 6, out_padded, in_padded)[:, :, :out_channels, :C]
    return torch.einsum("ik,ijoc,jl->ockl", _G, dU, _G)
