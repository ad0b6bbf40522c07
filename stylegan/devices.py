"""Where a generator can run: a device name checked against this machine, and what its CPU computes natively."""

from __future__ import annotations

import torch

from stylegan.errors import StyleGANError


def checked_device(name: str | torch.device, option: str = "device") -> torch.device:
    """`name` as a torch.device once this machine has it; else one StyleGANError naming `option` and saying
    what is there (no CUDA, a torch build without CUDA, too few GPUs)."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise StyleGANError(f"{option} {name}: not a device (cpu, cuda or cuda:N)") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise StyleGANError(f"{option} {name}: only cpu and cuda devices are supported")
    if not torch.cuda.is_available():
        built = "" if torch.version.cuda else ", a build without CUDA"
        raise StyleGANError(
            f"{option} {name}: CUDA is not available here (torch {torch.__version__}{built}); use the CPU"
        )
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise StyleGANError(f"{option} {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def cpu_has_bfloat16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512-BF16 or AMX); elsewhere autocast would emulate it."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
