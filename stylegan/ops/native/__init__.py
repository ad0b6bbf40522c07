"""Compiled CPU kernels, built on first use with the machine's C compiler, and optional.

The PyTorch fast path of an op is as fast as a chain of separate PyTorch calls can be; its remaining cost is
moving each intermediate signal through memory, or (the convolution) doing all the arithmetic it does. The
kernels here: filtered_lrelu.c runs the whole op on one image plane at a time in the core's cache; winograd.c
computes 3x3 convolutions with a quarter of the multiplications. They are plain C (no PyTorch headers, so each
builds in about a second) with vectors written as GCC/Clang vector extensions, compiled for this CPU
(-march=native) with OpenMP where the compiler has it, and loaded through ctypes.

Nothing depends on them: without a C compiler, on a CPU without AVX-512 (see mode()), or with
STYLEGAN_NATIVE=0, the ops take their PyTorch fast path; a compiler that fails costs one warning and the same fallback. Builds are cached in
stylegan-studio/native/ under $STYLEGAN_CACHE (default $XDG_CACHE_HOME, else ~/.cache), keyed by the source
(with vectors.h, which every source includes), the compiler and the CPU.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

ENV_VARIABLE = "STYLEGAN_NATIVE"
SOURCES = {name: Path(__file__).with_name(f"{name}.c") for name in ("filtered_lrelu", "winograd")}
HEADERS = [Path(__file__).with_name("vectors.h")]  # included by every source: part of each build's cache key
FLAGS = ["-O3", "-ffp-contract=fast", "-fno-math-errno", "-shared", "-fPIC"]
# Tried in turn: tuned for this CPU and with OpenMP (which then shares PyTorch's libgomp and its threads),
# then without what the compiler does not know (Apple's clang has no -fopenmp, for one).
VARIANTS = (["-march=native", "-fopenmp"], ["-fopenmp"], ["-march=native"], [])
BUILD_TIMEOUT_S = 120


class NativeFallbackWarning(RuntimeWarning):
    """A compiled CPU kernel could not be built or loaded; its op keeps its PyTorch fast path."""


_libraries: dict[str, ctypes.CDLL | None] = {}
_lock = threading.Lock()


def mode() -> str:
    """STYLEGAN_NATIVE: 'off' (0, false, no, off), 'always', else 'auto' (the default): the kernels where their
    build has a vector of 16 floats in one register (AVX-512), which is what they are written for. Built for
    narrower vectors (AVX2, Arm) they keep their vectors in pairs or fours of registers and run slower than the
    PyTorch fast path (on this project's AMD EPYC, built for AVX2, a 256-channel 32x32 synthesis took 525 ms
    against 133 ms), so 'auto' leaves them out there; 'always' uses them all the same (the tests do)."""
    value = os.environ.get(ENV_VARIABLE, "").strip().lower()
    if value in ("0", "false", "no", "off"):
        return "off"
    return "always" if value == "always" else "auto"


def library(name: str) -> ctypes.CDLL | None:
    """The loaded kernel library `name` (a key of SOURCES), built the first time; None where it cannot be, or
    where mode() leaves it out."""
    chosen = mode()
    if chosen == "off":
        return None
    with _lock:
        if name not in _libraries:
            _libraries[name] = _build_and_load(name)
        lib = _libraries[name]
    if lib is None or chosen == "always" or lib.vectors_in_registers():
        return lib
    return None


def over_items(run, count: int, parallel: bool, op: str) -> None:
    """run(begin, end) over items [0, count): one call where the kernel shares its items among OpenMP threads
    itself (`parallel`), else the items split over torch.get_num_threads() Python threads (ctypes releases
    the GIL during each call). A kernel returns 0, 1 where it could not allocate its scratch memory, and
    other values for arguments its op's supports() should have refused."""
    workers = 1 if parallel else max(1, min(torch.get_num_threads(), count))
    bounds = [count * i // workers for i in range(workers + 1)]
    statuses = list(_threads(workers).map(run, bounds[:-1], bounds[1:])) if workers > 1 else [run(0, count)]
    if 1 in statuses:
        raise MemoryError(f"{op}: the compiled kernel could not allocate its scratch buffers")
    if any(statuses):
        raise RuntimeError(f"{op}: the compiled kernel refused arguments that supports() accepted")


_pool: tuple[int, int, ThreadPoolExecutor] | None = None  # (process id, workers, pool)
_pool_lock = threading.Lock()


def _threads(count: int) -> ThreadPoolExecutor:
    """A pool of at least `count` threads, made anew in a forked child (whose copy has no threads)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid() or _pool[1] < count:
            _pool = (os.getpid(), count, ThreadPoolExecutor(count, thread_name_prefix="stylegan-native"))
        return _pool[2]


def cache_dir() -> Path:
    root = os.environ.get("STYLEGAN_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return Path(root) / "stylegan-studio" / "native"


def compiler() -> str | None:
    """$CC, else the first of cc, gcc and clang on PATH."""
    candidates = [os.environ["CC"]] if os.environ.get("CC") else ["cc", "gcc", "clang"]
    return next((found for name in candidates if (found := shutil.which(name))), None)


def _build_and_load(name: str) -> ctypes.CDLL | None:
    cc = compiler()
    if cc is None:
        return None  # a machine without a compiler: the PyTorch fast path, as intended, without a warning
    source = SOURCES[name]
    try:
        path = _built(name, source, cc)
        try:
            return ctypes.CDLL(str(path))
        except OSError:  # a damaged cache entry (a disk error, a copied home folder): build it again
            path.unlink(missing_ok=True)
            return ctypes.CDLL(str(_built(name, source, cc)))
    except (OSError, subprocess.SubprocessError, RuntimeError) as error:
        warnings.warn(
            f"the compiled CPU kernel of {name} is not available ({str(error).strip()[:300]}); {name} uses its "
            f"PyTorch fast path (set {ENV_VARIABLE}=0 to choose it without this warning)",
            NativeFallbackWarning,
            stacklevel=4,
        )
        return None


def _built(name: str, source: Path, cc: str) -> Path:
    """The cached shared library of `source`, compiled first where it is not there yet."""
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    key = hashlib.sha256(
        "\0".join(
            [
                source.read_text(),
                *(header.read_text() for header in HEADERS),
                cc,
                version,
                repr((FLAGS, VARIANTS)),
                platform.machine(),
                _cpu(),
            ]
        ).encode()
    ).hexdigest()[:16]
    path = cache_dir() / f"{name}-{key}.so"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        output = Path(scratch) / path.name
        errors = ""
        for variant in VARIANTS:
            command = [cc, *FLAGS, *variant, str(source), "-o", str(output)]
            result = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
            if result.returncode == 0:
                os.replace(output, path)  # atomic: a concurrent process sees the whole library or none
                return path
            errors = result.stderr or result.stdout
        raise RuntimeError(f"{Path(cc).name} failed: {errors}")


def _cpu() -> str:
    """What -march=native compiles for: the CPU's model and feature flags, where the system says."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    wanted = ("model name", "flags", "Features", "CPU part")
    return "\n".join(sorted({line for line in lines if line.split(":")[0].strip() in wanted}))
