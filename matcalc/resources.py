"""Find grammar/ and rules/: in a source checkout (repository root) or an installed wheel.

In a checkout the folders sit beside the package at the repository root; the wheel carries
them inside the package as ``matcalc/_data/grammar`` and ``matcalc/_data/rules``.  Nothing
else in matcalc knows where they are.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from matcalc.errors import MatcalcError

_PACKAGE = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def data_dir(name: str) -> Path:
    """The folder ``grammar`` or ``rules``, wherever this matcalc was installed from."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise MatcalcError(f"matcalc is installed without its {name}/ folder "
                       f"(looked in {_PACKAGE / '_data'} and {_PACKAGE.parent})")


def grammar_path() -> Path:
    """The Lark grammar of the expression language."""
    return data_dir("grammar") / "matcalc.lark"


def rules_dir() -> Path:
    """The built-in rules library."""
    return data_dir("rules")


def rule_files(subdir: str) -> list[Path]:
    """The built-in rule files under ``rules/<subdir>``, in taxonomy (file name) order."""
    return sorted((rules_dir() / subdir).glob("*.yaml"))
