"""stylegan.memory.tune_allocator: what it sets, when it leaves things alone, that the entry points call it
first, and that it stops the page faults of a synthesis-like allocation pattern. Each case runs in a fresh
interpreter, since the settings are made once per process and before torch is imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GLIBC = sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION") is not None


def _python(code: str, **env: str) -> dict:
    """Run code in a fresh interpreter (the allocator variables of this process removed) and parse the JSON
    it prints last."""
    environment = {
        k: v for k, v in os.environ.items() if k not in ("STYLEGAN_ALLOCATOR", "THP_MEM_ALLOC_ENABLE")
    }
    process = subprocess.run([sys.executable, "-c", code], env={**environment, **env}, cwd=ROOT,
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert process.returncode == 0, process.stderr
    return json.loads(process.stdout.strip().splitlines()[-1])


REPORT = "import json, os; print(json.dumps([list(applied), os.environ.get('THP_MEM_ALLOC_ENABLE')]))"


@pytest.mark.skipif(not GLIBC, reason="the malloc settings are glibc's")
def test_it_enables_huge_pages_and_the_malloc_thresholds_once():
    code = f"from stylegan.memory import tune_allocator as t; applied = t(); assert t() == applied; {REPORT}"
    assert _python(code) == [["huge pages", "malloc"], "1"]


def test_the_environment_variable_turns_it_off():
    code = f"from stylegan.memory import tune_allocator; applied = tune_allocator(); {REPORT}"
    assert _python(code, STYLEGAN_ALLOCATOR="default") == [[], None]


def test_too_late_for_huge_pages_once_torch_is_imported_and_a_users_choice_is_kept():
    late = f"import torch; from stylegan.memory import tune_allocator; applied = tune_allocator(); {REPORT}"
    applied, thp = _python(late)
    assert "huge pages" not in applied and thp is None
    kept = f"from stylegan.memory import tune_allocator; applied = tune_allocator(); {REPORT}"
    applied, thp = _python(kept, THP_MEM_ALLOC_ENABLE="0")
    assert "huge pages" not in applied and thp == "0"


@pytest.mark.parametrize(
    "entry_point",
    ["import stylegan_cli", "import runpy; runpy.run_path('visualizer.py', run_name='not_main')"],
    ids=["stylegan command", "visualizer.py"],
)
def test_the_entry_points_tune_before_torch_is_imported(entry_point):
    code = f"{entry_point}; import json, os; print(json.dumps(os.environ.get('THP_MEM_ALLOC_ENABLE')))"
    assert _python(code) == "1"


# Buffers of a 64x64 synthesis layer, several alive at once and freed in another order, as in filtered_lrelu.
PATTERN = """
import json, resource
{setup}
import torch
sizes = [4, 9, 17, 8, 4, 12]  # MiB
def call():
    alive = [torch.empty(n * 2**18).fill_(1.0) for n in sizes]
    alive.reverse()
    del alive[::2]
    return alive
for _ in range(3):
    call()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    call()
print(json.dumps((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10))
"""


@pytest.mark.skipif(not GLIBC, reason="the malloc settings are glibc's")
def test_freed_buffers_are_not_faulted_in_again_on_the_next_call():
    faults = _python(PATTERN.format(setup="from stylegan.memory import tune_allocator; tune_allocator()"))
    pages = sum([4, 9, 17, 8, 4, 12]) * 2**20 / 4096
    # Measured here: 8,700 faults per call with the defaults, 500 tuned (huge pages fault once per 2 MiB).
    assert faults < 0.1 * pages, f"{faults:.0f} page faults per call for {pages:.0f} pages of buffers"
