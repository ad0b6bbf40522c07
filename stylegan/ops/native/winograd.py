"""The compiled 3x3 convolution (winograd.c): the filter transform, the packing, and the passes over threads.

Winograd's F(4x4, 3x3) does a quarter of the multiplications of the direct convolution. In float32 its
rounding error is about 1e-5 of the output's scale, 20-30 times that of the direct convolution and far below
what the generator's outputs are compared at. conv2d_gradfix runs its forward pass and its input's gradient
through it; the weight's gradient stays PyTorch's.
"""

from __future__ import annotations

import ctypes

import torch

from stylegan.ops import native

BLOCK = 16  # output channels per block of the packed filters (winograd.c)
VECTOR = 16  # floats per vector: the padding of the tile axis
# Multiply-adds of the direct convolution per sample and group below which it is as fast as the kernel, whose
# passes cost some fixed time (measured here: even at 13 M, 64 channels at 38x38 outputs 1.3x faster).
MIN_WORK = 30_000_000

_c_int, _ptr = ctypes.c_int, ctypes.c_void_p
_SIGNATURES = {
    "winograd_filters": [_ptr, *[_c_int] * 3, _ptr, _c_int, _c_int],
    "winograd_input": [_ptr, *[_c_int] * 8, _ptr, _c_int, _c_int],
    "winograd_multiply": [_ptr, _ptr, _ptr, *[_c_int] * 5],
    "winograd_output": [_ptr, _ptr, *[_c_int] * 8],
}


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
    if x.device.type != "cpu" or x.dtype != torch.float32 or weight.dtype != torch.float32 or x.ndim != 4:
        return False
    if tuple(weight.shape[2:]) != (3, 3) or tuple(stride) != (1, 1):
        return False
    out_h, out_w = (x.shape[2 + axis] + 2 * padding[axis] - 2 for axis in range(2))
    if out_h < 1 or out_w < 1 or weight.shape[0] // groups * weight.shape[1] * 9 * out_h * out_w < MIN_WORK:
        return False
    return kernel() is not None


def conv3x3(x: torch.Tensor, weight: torch.Tensor, padding: tuple[int, int], groups: int) -> torch.Tensor:
    """torch.nn.functional.conv2d(x, weight, padding=padding, groups=groups) for a 3x3 weight (see supports)."""
    lib = kernel()
    N, channels, H, W = x.shape
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

    native.over_items(filters, groups * blocks, parallel)
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
                if 1 in native.over_items(run, count, parallel):
                    raise MemoryError(
                        "conv2d: the compiled Winograd kernel could not allocate its scratch buffers"
                    )
    return y
