"""Triton kernels of the ops, forward and backward, with the semantics of the PyTorch references.

stylegan.ops runs them for CUDA tensors under impl='fast' (and 'auto'); see stylegan.ops._dispatch. Each
module's entry function (bias_act.bias_act, upfirdn2d.upfirdn2d) takes the reference's arguments and can be
called directly. With TRITON_INTERPRET=1 in the environment before a kernel module is first imported, triton's
interpreter runs the kernels on CPU tensors (slowly: for tests). Importing this package does not import triton.
"""

from __future__ import annotations

import os

import torch


def interpreting() -> bool:
    """Whether TRITON_INTERPRET asks for triton's interpreter."""
    return os.environ.get("TRITON_INTERPRET", "").strip().lower() in ("1", "true", "on", "yes")


def triton_available() -> bool:
    """Whether triton imports and has something to run on: a CUDA device, or its interpreter."""
    try:
        import triton  # noqa: F401
    except Exception:  # a broken install can fail with more than ImportError
        return False
    return torch.cuda.is_available() or interpreting()
