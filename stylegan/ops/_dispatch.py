"""Choice of implementation behind each op."""

IMPLEMENTATIONS = ("auto", "ref")


def check_impl(impl: str) -> str:
    """Validate `impl` and return it: 'ref' forces the reference; 'auto' lets the op pick a fast path."""
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"impl must be one of {IMPLEMENTATIONS}, not {impl!r}")
    return impl
