"""What the Triton kernel tests share. Importing it first turns on triton's interpreter where there is no CUDA
(TRITON_INTERPRET=1 must be set before a kernel module is imported: triton reads it when a kernel is defined),
so the kernels run on small CPU tensors there and compiled on a GPU."""

import os

import pytest
import torch

INTERPRETED = not torch.cuda.is_available()
if INTERPRETED:
    os.environ["TRITON_INTERPRET"] = "1"

CPU = pytest.param(
    "cpu", marks=pytest.mark.skipif(not INTERPRETED, reason="the interpreter is off where CUDA is")
)
CUDA = pytest.param("cuda", marks=pytest.mark.gpu)
DEVICES = [CPU, CUDA]


class CountingKernel:
    """Stands in for a kernel and counts its launches, so a test sees that the kernel (not a fallback) ran."""

    def __init__(self, kernel):
        self.kernel, self.launches = kernel, 0

    def __getitem__(self, grid):
        self.launches += 1
        return self.kernel[grid]


def count_launches(monkeypatch, module, *names: str) -> dict[str, CountingKernel]:
    """Replace the kernels `names` of `module` by counters, for the test's duration."""
    counters = {}
    for name in names:
        counters[name] = CountingKernel(getattr(module, name))
        monkeypatch.setattr(module, name, counters[name])
    return counters
