"""The compiled filtered_lrelu forward pass (filtered_lrelu.c): its filter tables, and the call over threads.

The tables state the definition of stylegan.ops.filtered_lrelu directly: the upsampled, padded signal along
an axis is t[u] = sum_j x[j] * g[pad0 + j * up - u] with g the (flipped, unless flip_filter) upsampling filter
times `up`, split by the phase r = u mod up; the output is out[o] = sum_k y[o * down + k] * h[k] with h the
downsampling filter times sqrt(gain) (the activation's gain, moved into the two passes, as on the PyTorch fast
path). The kernel shares the planes among PyTorch's OpenMP threads where it was built with OpenMP; else they are
split over as many Python threads as torch.get_num_threads() (ctypes releases the GIL during each call).
"""

from __future__ import annotations

import ctypes
import math
import weakref
from functools import lru_cache

import torch

from stylegan.ops import native

MAX_TAPS = 48  # of either filter, and factors up to MAX_FACTOR: what the C side's windows hold
MAX_FACTOR = 8


class _Upsampling(ctypes.Structure):
    _fields_ = [
        ("up", ctypes.c_int),
        ("taps", ctypes.c_int),
        ("size", ctypes.c_int),
        ("offset", ctypes.POINTER(ctypes.c_int)),
        ("weight", ctypes.POINTER(ctypes.c_float)),
    ]


_c_int, _ptr, _axis = ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(_Upsampling)
_FORWARD = [_ptr] * 4 + [_c_int] * 5 + [_axis] * 2 + [_c_int, _c_int, _ptr, _ptr, _c_int, _c_int]
_FORWARD += [ctypes.c_float, ctypes.c_float]
_BACKWARD = [_ptr] * 3 + [_c_int] * 4 + [_axis] * 2 + [_c_int, _c_int, _ptr, _ptr, _c_int, _c_int]


def kernel() -> ctypes.CDLL | None:
    """The library with its functions' signatures set, or None where it is not available."""
    lib = native.library("filtered_lrelu")
    if lib is not None and lib.filtered_lrelu_forward.argtypes is None:  # ctypes keeps one object per name
        lib.filtered_lrelu_forward.argtypes, lib.filtered_lrelu_forward.restype = _FORWARD, ctypes.c_int
        lib.filtered_lrelu_backward.argtypes, lib.filtered_lrelu_backward.restype = _BACKWARD, ctypes.c_int
        lib.filtered_lrelu_parallel.restype = ctypes.c_int
    return lib


def _parallel() -> bool:
    """Whether the kernel shares its planes among OpenMP threads itself (else the caller splits them)."""
    return bool(kernel().filtered_lrelu_parallel())


def supports(x: torch.Tensor, fu, fd, up: int, down: int) -> bool:
    """Whether the kernel computes this call: float32 on the CPU, separable (or no) filters, and an
    upsampling factor that is a multiple of the downsampling factor, as every layer of the presets has."""
    if x.device.type != "cpu" or x.dtype != torch.float32 or up % down or up > MAX_FACTOR:
        return False
    for f in (fu, fd):
        if f is not None and (f.ndim != 1 or f.shape[0] > MAX_TAPS):
            return False
    return kernel() is not None


class _Tables:
    """The filter tables of one call's shape and filters, kept alive as long as the C side reads them."""

    def __init__(self, fu, fd, height, width, up, down, padding, gain, flip_filter):
        px0, px1, py0, py1 = padding
        self.x_arrays = _upsampling(fu, width, up, px0, px1, flip_filter)
        self.y_arrays = _upsampling(fu, height, up, py0, py1, flip_filter)
        self.x, self.y = _structure(*self.x_arrays), _structure(*self.y_arrays)
        f = torch.ones(1, dtype=torch.float64) if fd is None else fd.detach().double().cpu()
        self.down = ((f if flip_filter else f.flip(0)) * math.sqrt(gain)).float().contiguous()
        self.size = (self.y_arrays[2], self.x_arrays[2])
        self.out = tuple((size - self.down.shape[0] + down) // down for size in self.size)
        self.down_factor = down
        self.x_phases = (up, -(-self.size[1] // up))  # the derivative's layout along x: [up][phase length]


def _upsampling(f, n: int, up: int, pad0: int, pad1: int, flip: bool):
    """(up, taps per phase, size, offsets [up], weights [up, taps]) of one axis."""
    f = torch.ones(1, dtype=torch.float64) if f is None else f.detach().double().cpu()
    g = (f if flip else f.flip(0)) * up
    count = g.shape[0]
    taps = -(-count // up)
    size = n * up + pad0 + pad1 - count + 1
    offsets = torch.zeros(up, dtype=torch.int32)
    weights = torch.zeros(up, taps, dtype=torch.float64)
    for r in range(up):
        first = (pad0 - r) % up  # the taps of g that phase r uses: first, first + up, ...
        offsets[r] = (first + r - pad0) // up
        weights[r, : len(range(first, count, up))] = g[first::up]
    return up, taps, size, offsets, weights.float().contiguous()


def _structure(up, taps, size, offsets, weights) -> _Upsampling:
    return _Upsampling(
        up,
        taps,
        size,
        ctypes.cast(offsets.data_ptr(), ctypes.POINTER(ctypes.c_int)),
        ctypes.cast(weights.data_ptr(), ctypes.POINTER(ctypes.c_float)),
    )


@lru_cache(maxsize=256)
def _cached_tables(fu_values, fd_values, height, width, up, down, padding, gain, flip_filter) -> _Tables:
    fu = None if fu_values is None else torch.tensor(fu_values, dtype=torch.float64)
    fd = None if fd_values is None else torch.tensor(fd_values, dtype=torch.float64)
    return _Tables(fu, fd, height, width, up, down, padding, gain, flip_filter)


# id(filter) -> (weak reference, version, values): what _values last read
_known_values: dict[int, tuple] = {}


def _values(f: torch.Tensor | None):
    """The filter's values as a tuple (the tables' cache key). Reading them costs more than the call of a small
    layer, so they are remembered per tensor, until it changes in place (its version) or goes."""
    if f is None:
        return None
    if f.is_inference():  # made under torch.inference_mode(): no version counter to trust
        return tuple(f.double().cpu().tolist())
    known = _known_values.get(id(f))
    if known is not None and known[0]() is f and known[1] == f._version:
        return known[2]
    if len(_known_values) >= 1024:
        _known_values.clear()
    values = tuple(f.detach().double().cpu().tolist())
    _known_values[id(f)] = (weakref.ref(f), f._version, values)
    return values


class Saved:
    """What the backward pass needs of a forward pass: the derivative (see forward) and the tables it was
    computed with."""

    def __init__(self, derivative: torch.Tensor, tables: _Tables, x_shape: torch.Size):
        self.derivative, self.tables, self.x_shape = derivative, tables, x_shape

    def natural_derivative(self) -> torch.Tensor:
        """The derivative [N, C, size_y, size_x] in the order of the samples (for the PyTorch passes)."""
        N, C, height, up, phase = self.derivative.shape
        ordered = self.derivative.transpose(3, 4).reshape(N, C, height, phase * up)
        return ordered[..., : self.tables.size[1]]


def forward(
    x: torch.Tensor,
    fu: torch.Tensor | None,
    fd: torch.Tensor | None,
    b: torch.Tensor | None,
    up: int,
    down: int,
    padding: tuple[int, int, int, int],
    gain: float,
    slope: float,
    clamp: float | None,
    flip_filter: bool,
    keep: bool,
) -> tuple[torch.Tensor, Saved | None]:
    """filtered_lrelu of x (see supports), and where `keep` asks for it what backward() needs: the derivative
    of the activation at each sample of the upsampled signal, [N, C, size_y, up, ceil(size_x / up)] (by phase
    along x: sample q * up + r at [..., r, q])."""
    N, C, H, W = x.shape
    tables = _cached_tables(
        _values(fu), _values(fd), H, W, up, down, tuple(padding), float(gain), flip_filter
    )
    x = x.contiguous()
    bias = None if b is None else b.detach().to(torch.float32).contiguous()
    out = x.new_empty([N, C, *tables.out])
    derivative = x.new_empty([N, C, tables.size[0], *tables.x_phases]) if keep else None
    limit = math.inf if clamp is None else clamp / gain

    def run(begin: int, end: int) -> int:
        return kernel().filtered_lrelu_forward(
            x.data_ptr(), None if bias is None else bias.data_ptr(), out.data_ptr(),
            None if derivative is None else derivative.data_ptr(), begin, end, C, H, W,
            ctypes.byref(tables.x), ctypes.byref(tables.y), down, tables.down.shape[0],
            tables.down.data_ptr(), tables.down.data_ptr(), *tables.out, slope, limit,
        )  # fmt: skip

    native.over_items(run, N * C, _parallel(), "filtered_lrelu")
    return out, None if derivative is None else Saved(derivative, tables, x.shape)


def backward(grad_out: torch.Tensor, saved: Saved) -> torch.Tensor:
    """The gradient with respect to x plus its bias (the bias's gradient is its sum over N, H and W)."""
    N, C, H, W = saved.x_shape
    tables = saved.tables
    grad_out = grad_out.to(torch.float32).contiguous()
    grad_x = grad_out.new_empty([N, C, H, W])

    def run(begin: int, end: int) -> int:
        return kernel().filtered_lrelu_backward(
            grad_out.data_ptr(), saved.derivative.data_ptr(), grad_x.data_ptr(), begin, end, H, W,
            ctypes.byref(tables.x), ctypes.byref(tables.y), tables.down_factor, tables.down.shape[0],
            tables.down.data_ptr(), tables.down.data_ptr(), *tables.out,
        )  # fmt: skip

    native.over_items(run, N * C, _parallel(), "filtered_lrelu")
    return grad_x
