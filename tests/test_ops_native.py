"""The compiled CPU kernel of filtered_lrelu (stylegan/ops/native): where a C compiler is here it runs behind
impl='fast' and equals the reference, values and gradients; without a compiler, with STYLEGAN_NATIVE=0, or
with a compiler that fails (one warning) the op takes its PyTorch fast path; builds are cached."""

import os
import stat
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from stylegan.ops import native
from stylegan.ops.filtered_lrelu import filtered_lrelu
from stylegan.ops.native import NativeFallbackWarning
from stylegan.ops.native import filtered_lrelu as native_filtered_lrelu

needs_compiler = pytest.mark.skipif(native.compiler() is None, reason="no C compiler on this machine")


@pytest.fixture(autouse=True)
def _kernels_on_any_cpu(monkeypatch):
    """The compiled kernels also where STYLEGAN_NATIVE's default would leave them out (a CPU without AVX-512)."""
    monkeypatch.setenv(native.ENV_VARIABLE, "always")


@pytest.fixture
def fresh_build(tmp_path, monkeypatch):
    """An empty build cache and no library loaded; what was loaded before comes back after the test."""
    monkeypatch.setenv("STYLEGAN_CACHE", str(tmp_path / "cache"))
    loaded = dict(native._libraries)
    native._libraries.clear()
    yield tmp_path / "cache" / "stylegan-studio" / "native"
    native._libraries.clear()
    native._libraries.update(loaded)


@pytest.fixture
def calls(count_calls):
    """How many times the compiled forward pass ran."""
    return count_calls(native_filtered_lrelu, "forward")


def _script(path, body: str):
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def _case(rng, up, down, taps_up, taps_down, size=(9, 11)):
    fu = None if taps_up == 0 else torch.from_numpy(rng.random(taps_up) + 0.1).float()
    fd = None if taps_down == 0 else torch.from_numpy(rng.random(taps_down) + 0.1).float()
    x = torch.from_numpy(rng.standard_normal((2, 3, *size))).float().requires_grad_()
    b = torch.from_numpy(rng.standard_normal(3)).float().requires_grad_()
    return x, fu, fd, b


def _assert_matches_reference(x, fu, fd, b, **kwargs):
    expected = filtered_lrelu(x, fu, fd, b, impl="ref", **kwargs)
    actual = filtered_lrelu(x, fu, fd, b, impl="fast", **kwargs)
    scale = max(1.0, expected.abs().max().item())
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4 * scale)
    grad = torch.randn(expected.shape, generator=torch.Generator().manual_seed(3))
    inputs = [x] if b is None else [x, b]
    for got, want in zip(
        torch.autograd.grad(actual, inputs, grad), torch.autograd.grad(expected, inputs, grad), strict=True
    ):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * max(1.0, want.abs().max().item()))


@needs_compiler
@pytest.mark.parametrize(
    ("up", "down", "taps_up", "taps_down"),
    [
        (1, 1, 3, 3),
        (2, 1, 4, 5),
        (2, 2, 12, 12),
        (4, 2, 24, 12),
        (4, 4, 8, 16),
        (4, 1, 7, 0),
        (2, 2, 0, 0),
        (2, 2, 4, 7),
        (2, 2, 6, 18),
    ],  # odd down-sampling taps, and more than the x down-pass shifts in registers
)
@pytest.mark.parametrize("padding", [[9, 8, 9, 8], [-6, -9, -6, -9], [20, 3, 0, 17], 0])
def test_the_compiled_kernel_equals_the_reference(calls, up, down, taps_up, taps_down, padding):
    rng = np.random.default_rng(up * 100 + down * 10 + taps_up)
    x, fu, fd, b = _case(rng, up, down, taps_up, taps_down)
    ran = 0
    for flip_filter, clamp, slope, bias in [
        (False, None, 0.2, b),
        (True, 0.5, 0.2, None),
        (False, 0.8, 1, b),
    ]:
        try:
            filtered_lrelu(x, fu, fd, bias, up=up, down=down, padding=padding, impl="ref")
        except ValueError:
            continue  # the padding leaves less than the filters
        kwargs = dict(up=up, down=down, padding=padding, gain=1.3, slope=slope, clamp=clamp)
        _assert_matches_reference(x, fu, fd, bias, flip_filter=flip_filter, **kwargs)
        ran += 1
    if not ran:
        pytest.skip("the padding leaves less than the filters")
    assert len(calls) == ran  # the gradients reuse the derivative the forward pass saved


@needs_compiler
@pytest.mark.parametrize("slope", [0.2, 0.0, 1.0, 1.5])
def test_the_forward_pass_without_gradients_equals_the_reference(monkeypatch, slope):
    """Under no_grad nothing is kept for a backward pass, even for a bias that requires grad (a generator's),
    and a slope in [0, 1] takes max(t, slope t)."""
    kept = []
    original = native_filtered_lrelu.forward
    monkeypatch.setattr(
        native_filtered_lrelu, "forward", lambda *args: kept.append(args[-1]) or original(*args)
    )
    x, fu, fd, b = _case(np.random.default_rng(7), 2, 2, 12, 12, size=(20, 20))
    assert b.requires_grad
    with torch.no_grad():
        x = x * 3
        x[0, 0, 5, 5] = float("nan")
        kwargs = dict(up=2, down=2, padding=[9, 8, 9, 8], gain=1.3, slope=slope, clamp=2.0)
        expected = filtered_lrelu(x, fu, fd, b, impl="ref", **kwargs)
        actual = filtered_lrelu(x, fu, fd, b, impl="fast", **kwargs)
    assert torch.equal(actual.isnan(), expected.isnan()) and expected.isnan().any()
    finite = ~expected.isnan()
    torch.testing.assert_close(actual[finite], expected[finite], rtol=1e-4, atol=1e-4 * 2.0)
    assert kept == [False]


@needs_compiler
def test_the_compiled_kernel_at_the_layer_shapes_of_the_presets(calls):
    rng = np.random.default_rng(0)
    for size, up, taps_up, padding in [(38, 2, 12, [9, 8, 9, 8]), (54, 4, 24, [-6, -9, -6, -9])]:
        x, fu, fd, b = _case(rng, up, 2, taps_up, 12, size=(size, size))
        with torch.no_grad():
            x.mul_(100)  # big enough to hit the clamp
        _assert_matches_reference(x, fu, fd, b, up=up, down=2, padding=padding, clamp=256)
    assert len(calls) == 2


@needs_compiler
@pytest.mark.parametrize("openmp", [True, False])
def test_the_kernel_splits_planes_over_threads_with_the_same_result(calls, monkeypatch, openmp):
    """Among OpenMP threads (the kernel built with it), or over Python threads (without)."""
    if not openmp:
        monkeypatch.setattr(native_filtered_lrelu, "_parallel", lambda: False)
    rng = np.random.default_rng(1)
    x, fu, fd, b = _case(rng, 2, 2, 12, 12, size=(20, 20))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = filtered_lrelu(x, fu, fd, b, up=2, down=2, padding=[9, 8, 9, 8], impl="fast")
        torch.set_num_threads(3)
        three = filtered_lrelu(x, fu, fd, b, up=2, down=2, padding=[9, 8, 9, 8], impl="fast")
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, three) and len(calls) == 2


@needs_compiler
def test_the_kernel_shares_the_openmp_runtime_of_pytorch():
    """One libgomp in the process: the kernel's parallel loop runs on PyTorch's threads, which stay awake
    between PyTorch's ops, instead of starting or waking a second pool."""
    x, fu, fd, b = _case(np.random.default_rng(5), 2, 2, 12, 12)
    filtered_lrelu(x, fu, fd, b, up=2, down=2, padding=[9, 8, 9, 8], impl="fast")
    if not native_filtered_lrelu._parallel() or not os.path.exists("/proc/self/maps"):
        pytest.skip("the compiler has no OpenMP, or the system does not list what the process has loaded")
    with open("/proc/self/maps") as maps:
        runtimes = {line.split()[-1] for line in maps if "libgomp" in line or "libomp" in line}
    assert len(runtimes) == 1, runtimes


@needs_compiler
def test_what_the_kernel_does_not_take_stays_on_the_pytorch_paths(calls, monkeypatch):
    rng = np.random.default_rng(2)
    x, fu, fd, b = _case(rng, 2, 2, 6, 6)
    pad = dict(padding=6)
    filtered_lrelu(x.double(), fu, fd, b, up=2, down=2, impl="fast", **pad)  # float64
    filtered_lrelu(x, fu[:, None] * fu[None], fd, b, up=2, down=2, impl="fast", **pad)  # a 2-D filter
    filtered_lrelu(x, fu, fd, b, up=1, down=2, impl="fast", **pad)  # up not a multiple of down
    filtered_lrelu(x, fu, fd, b, up=2, down=2, impl="ref", **pad)
    monkeypatch.setenv(native.ENV_VARIABLE, "0")
    filtered_lrelu(x, fu, fd, b, up=2, down=2, impl="fast", **pad)
    assert calls == []
    monkeypatch.setenv(native.ENV_VARIABLE, "always")
    filtered_lrelu(x, fu, fd, b, up=2, down=2, impl="fast", **pad)
    assert len(calls) == 1


class _NarrowBuild:
    """A kernel library as built for a CPU without AVX-512."""

    def vectors_in_registers(self):
        return 0


def test_kernels_built_without_avx512_are_left_out_unless_asked_for(monkeypatch):
    narrow = _NarrowBuild()
    monkeypatch.setitem(native._libraries, "filtered_lrelu", narrow)
    for value, expected in [
        (None, None),
        ("1", None),
        ("always", narrow),
        ("ALWAYS ", narrow),
        ("off", None),
    ]:
        if value is None:
            monkeypatch.delenv(native.ENV_VARIABLE, raising=False)
        else:
            monkeypatch.setenv(native.ENV_VARIABLE, value)
        assert native.library("filtered_lrelu") is expected, value


def test_without_a_compiler_the_op_runs_its_pytorch_fast_path_quietly(fresh_build, monkeypatch, calls):
    monkeypatch.setenv("CC", "/nonexistent/cc")
    x, fu, fd, b = _case(np.random.default_rng(3), 2, 2, 12, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assert_matches_reference(x, fu, fd, b, up=2, down=2, padding=[9, 8, 9, 8])
    assert calls == [] and native.library("filtered_lrelu") is None


def test_a_failing_compiler_costs_one_warning_and_the_op_still_runs(
    fresh_build, monkeypatch, tmp_path, calls
):
    monkeypatch.setenv("CC", _script(tmp_path / "cc", 'echo "cc: fatal error: out of luck" >&2\nexit 1\n'))
    x, fu, fd, b = _case(np.random.default_rng(4), 2, 2, 12, 12)
    with pytest.warns(NativeFallbackWarning, match="out of luck"):
        _assert_matches_reference(x, fu, fd, b, up=2, down=2, padding=[9, 8, 9, 8])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        filtered_lrelu(x, fu, fd, b, up=2, down=2, padding=[9, 8, 9, 8], impl="fast")
    assert calls == [] and not any(fresh_build.glob("*.so"))


@needs_compiler
def test_a_build_is_cached_and_reused(fresh_build, monkeypatch, tmp_path):
    log = tmp_path / "log"
    wrapper = _script(tmp_path / "cc", f'echo "$@" >> {log}\nexec {native.compiler()} "$@"\n')
    monkeypatch.setenv("CC", wrapper)
    assert native.library("filtered_lrelu") is not None
    built = list(fresh_build.glob("filtered_lrelu-*.so"))
    compiles = [line for line in log.read_text().splitlines() if "-shared" in line]
    assert len(built) == 1 and len(compiles) == 1 and "-march=native" in compiles[0]
    native._libraries.clear()
    assert native.library("filtered_lrelu") is not None
    assert [line for line in log.read_text().splitlines() if "-shared" in line] == compiles
    assert list(fresh_build.glob("filtered_lrelu-*.so")) == built and os.access(built[0], os.R_OK)


@needs_compiler
def test_a_changed_header_is_a_new_build(fresh_build, monkeypatch, tmp_path):
    """The cache key covers vectors.h, which the sources include, not only the source itself."""
    assert native.library("winograd") is not None
    header = tmp_path / "vectors.h"
    header.write_text(native.HEADERS[0].read_text() + "\n/* changed */\n")
    monkeypatch.setattr(native, "HEADERS", [header])
    native._libraries.clear()
    assert native.library("winograd") is not None
    assert len(list(fresh_build.glob("winograd-*.so"))) == 2


@needs_compiler
def test_the_backward_pass_is_compiled_and_a_double_backward_is_differentiable(count_calls):
    """A plain backward runs the compiled backward kernel; one with create_graph (the path-length
    regulariser's) runs the PyTorch passes, so that its gradient can be differentiated again."""
    backward_calls = count_calls(native_filtered_lrelu, "backward")
    x, fu, fd, b = _case(np.random.default_rng(6), 2, 2, 12, 12)
    kwargs = dict(up=2, down=2, padding=[9, 8, 9, 8], clamp=0.9)
    # What the regulariser differentiates: the gradient with respect to x, as a function of what comes from
    # above (here the weights of the output; in the generator, the next layers and the styles).
    weights = torch.randn(filtered_lrelu(x, fu, fd, b, impl="ref", **kwargs).shape, requires_grad=True)

    def second_order(impl: str):
        out = filtered_lrelu(x, fu, fd, b, impl=impl, **kwargs)
        (grad_x,) = torch.autograd.grad((out * weights).sum(), x, create_graph=True)
        return torch.autograd.grad(grad_x.square().sum(), weights)

    expected = second_order("ref")
    assert backward_calls == []
    for got, want in zip(second_order("fast"), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * max(1.0, want.abs().max().item()))
    assert backward_calls == []  # the first backward had create_graph
    _assert_matches_reference(x, fu, fd, b, **kwargs)
    assert backward_calls == [1]


@needs_compiler
def test_a_damaged_cached_build_is_built_again(fresh_build, tmp_path):
    """In a new process, with a cache of its own: this process has the library mapped, and must not see its
    file overwritten."""
    assert native.library("filtered_lrelu") is not None
    (built,) = fresh_build.glob("filtered_lrelu-*.so")
    damaged = tmp_path / "other-cache" / "stylegan-studio" / "native" / built.name
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"\x7fELF but not a library")
    load = "import warnings; warnings.simplefilter('error'); from stylegan.ops import native; "
    load += "assert native.library('filtered_lrelu') is not None"
    env = dict(os.environ, STYLEGAN_CACHE=str(tmp_path / "other-cache"))
    subprocess.run([sys.executable, "-c", load], check=True, env=env, timeout=120)
    assert damaged.stat().st_size > 1000


@needs_compiler
def test_a_filter_changed_in_place_is_read_again(calls):
    """The kernel's tables are cached by the filters' values, which are remembered per tensor and version."""
    x, fu, fd, b = _case(np.random.default_rng(8), 2, 2, 12, 12, size=(20, 20))
    kwargs = dict(up=2, down=2, padding=[9, 8, 9, 8])
    with torch.no_grad():
        before = filtered_lrelu(x, fu, fd, b, impl="fast", **kwargs)
        fu.mul_(3)
        after = filtered_lrelu(x, fu, fd, b, impl="fast", **kwargs)
        torch.testing.assert_close(
            after, filtered_lrelu(x, fu, fd, b, impl="ref", **kwargs), rtol=1e-4, atol=1e-4
        )
        with torch.inference_mode():
            inference = filtered_lrelu(x.clone(), fu.clone(), fd.clone(), b.clone(), impl="fast", **kwargs)
    assert not torch.allclose(before, after) and torch.equal(inference, after) and len(calls) == 3
