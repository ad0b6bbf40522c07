"""Choice of implementation behind each op.

'ref' is the pure-PyTorch reference, 'fast' the faster path of the op (where it has one; elsewhere the same as
'ref'), and 'auto' is 'fast' unless the environment variable STYLEGAN_OPS says 'ref' or 'fast', which lets a
whole run fall back to the reference without touching code.
"""

from __future__ import annotations

import os

IMPLEMENTATIONS = ("auto", "ref", "fast")
ENV_VARIABLE = "STYLEGAN_OPS"


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
