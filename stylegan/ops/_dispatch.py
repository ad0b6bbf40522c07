"""Choice of implementation behind each op.

'ref' is the pure-PyTorch reference, 'fast' the faster path of the op (where it has one; elsewhere the same as
'ref'), and 'auto' is 'fast' unless the environment variable STYLEGAN_OPS says 'ref' or 'fast', which lets a
whole run fall back to the reference without touching code.

On a CUDA tensor 'fast' means the op's Triton kernel (stylegan.ops.triton). Whatever keeps it from running
(triton missing, an unsupported GPU, a compile or launch error) costs one warning per op, after which that op
takes the reference for the rest of the process; the caller always gets a result. Arguments the reference
rejects are still the caller's error.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable
from typing import TypeVar

import torch

from stylegan.ops.triton import interpreting, triton_available

IMPLEMENTATIONS = ("auto", "ref", "fast")
ENV_VARIABLE = "STYLEGAN_OPS"

# The kernels compute in float32 and store in the input's dtype.
TRITON_DTYPES = (torch.float16, torch.float32)

# For tests: 'fast' also runs the Triton kernels on CPU tensors, in triton's interpreter, which needs
# TRITON_INTERPRET=1 in the environment before the kernel modules are first imported.
TRITON_ON_CPU = False

T = TypeVar("T")


class TritonFallbackWarning(RuntimeWarning):
    """An op's Triton kernel could not run; the op uses the PyTorch reference from now on."""


_disabled: dict[str, str] = {}  # op -> why its Triton kernel is off
_lock = threading.Lock()


def check_impl(impl: str) -> str:
    """Validate `impl` and return it unresolved (an op that has no fast path accepts every name)."""
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"impl must be one of {IMPLEMENTATIONS}, not {impl!r}")
    return impl


def resolve_impl(impl: str) -> str:
    """'ref' or 'fast': `impl` itself, or for 'auto' the STYLEGAN_OPS override, 'fast' by default."""
    check_impl(impl)
    if impl != "auto":
        return impl
    chosen = os.environ.get(ENV_VARIABLE, "").strip().lower() or "fast"
    if chosen not in ("ref", "fast"):
        raise ValueError(f"{ENV_VARIABLE} must be 'ref' or 'fast', not {chosen!r}")
    return chosen


def wants_triton(op: str, x: torch.Tensor, *filters: torch.Tensor | None) -> bool:
    """Whether the fast path of `op` on `x` is its Triton kernel: a CUDA tensor (or a CPU one with TRITON_ON_CPU)
    of a kernel dtype, no filter to differentiate, and the kernel not switched off by an earlier failure."""
    on_cpu = x.device.type == "cpu" and TRITON_ON_CPU and interpreting()
    if not (x.is_cuda or on_cpu) or x.dtype not in TRITON_DTYPES or op in _disabled:
        return False
    if torch.is_grad_enabled() and any(f is not None and f.requires_grad for f in filters):
        return False  # the kernels differentiate x and the bias only; trainable filters take the reference
    if not triton_available():
        _disable(op, "triton is not installed or does not import")
        return False
    return True


def run_triton(op: str, kernel: Callable[[], T], reference: Callable[[], T]) -> T:
    """kernel(), or where it fails reference(), with a warning the first time and the kernel off from then on.

    When the reference fails too, the arguments were wrong: its error is raised and the kernel stays on.
    """
    try:
        return kernel()
    except torch.cuda.OutOfMemoryError:
        raise  # the reference needs the memory as much
    except Exception as error:
        result = reference()
        _disable(op, f"{type(error).__name__}: {str(error)[:300]}")
        return result


def _disable(op: str, reason: str) -> None:
    with _lock:
        if op in _disabled:
            return
        _disabled[op] = reason
    warnings.warn(
        f"the Triton kernel of {op} cannot run ({reason}); {op} uses the PyTorch reference from now on "
        f"(set {ENV_VARIABLE}=ref to choose it without this warning)",
        TritonFallbackWarning,
        stacklevel=3,
    )
