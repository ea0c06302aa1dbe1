"""Shared test setup: Hypothesis profiles and a guard that proves a walk is not recursive.

Profiles (choose with the environment variable HYPOTHESIS_PROFILE):
- ``ci`` (the default): derandomized, so every run draws the same examples and a failure
  reproduces exactly; 200 examples per property.
- ``dev``: random seeds, more examples, for hunting new failures locally.  Any failure found
  this way is kept as an explicit ``@example`` (or a table entry) next to the property.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, settings

# Subprocesses (the CLI and REPL tests) must run the matcalc these tests import.  With
# PYTHONPATH=. and a test's cwd elsewhere, "." named that other folder, and a child process
# silently imported whatever matcalc the environment had installed (another checkout).
import matcalc  # noqa: E402

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(matcalc.__file__)))
os.environ["PYTHONPATH"] = os.pathsep.join(
    [_ROOT] + [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
               if p and os.path.abspath(p) != _ROOT])

settings.register_profile(
    "ci", derandomize=True, max_examples=200, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "dev", derandomize=False, max_examples=1000, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _stack_depth() -> int:
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    return depth


@contextmanager
def low_recursion_limit(headroom: int = 150):
    """Run a block with only ``headroom`` frames to spare (pytest itself sits some 40 frames
    deep): any recursive walk over a 10,000-deep tree raises RecursionError."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(_stack_depth() + headroom)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


@pytest.fixture
def shallow_stack():
    """The :func:`low_recursion_limit` context manager, as a fixture."""
    return low_recursion_limit


# A user's rule that the built-in rules undo (sin(A) -> sin(A + 0*A) -> sin(A)): a cycle the
# simplifier must stop and report.  d/dx sum(cos(x)) meets it.
CYCLE_MESSAGE = "simplify: a node kept changing (a cycle between rules?); left as sin(x)"


@pytest.fixture
def cycling_rules(tmp_path):
    path = tmp_path / "cycle.yaml"
    path.write_text('identities:\n'
                    '  - name: sine-plus-zero\n'
                    '    from: "sin(A)"\n'
                    '    to: "sin(A + 0*A)"\n'
                    '    source: "a test: the simplifier takes 0*A away again"\n')
    return path
