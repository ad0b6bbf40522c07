"""Choice of implementation behind each op."""

IMPLEMENTATIONS = ("auto", "ref")


def check_impl(impl: str) -> str:
    """Validate `impl`; return the implementation that will run ('ref' is the only one so far)."""
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"impl must be one of {IMPLEMENTATIONS}, not {impl!r}")
    return "ref"
