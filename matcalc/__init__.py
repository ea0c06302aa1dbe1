"""matcalc: matrix calculus you can read, backed by numbers you can trust.

The library API.  Importing matcalc is cheap: NumPy is loaded only by the numeric parts
(``matcalc.autograd`` and evaluation), never by parsing or printing.

>>> import matcalc
>>> e = matcalc.parse("x'*(A + A')")
>>> e.unicode(), e.shape_text
('xᵀ(A + Aᵀ)', '1×n')
"""

from matcalc.errors import (AutogradError, EvaluationError, LinAlgError, MatcalcError,
                            ParseError, RuleFileError, ShapeError, UnknownFunctionError)
from matcalc.diff import diff, explain, grad, hessian
from matcalc.expr import Expr
from matcalc.parse import parse
from matcalc.rules import RuleSet, load_rules
from matcalc.shapes import format_shape

__version__ = "0.1.0"
__all__ = ["AutogradError", "EvaluationError", "Expr", "LinAlgError", "MatcalcError",
           "ParseError", "RuleFileError", "ShapeError", "UnknownFunctionError", "__version__",
           "RuleSet", "check_derivative", "compile", "diff", "equivalent", "evaluate",
           "explain", "format_shape", "grad", "hessian", "load_rules", "numeric_jacobian",
           "parse", "to_dot"]

_LAZY = {"evaluate": "matcalc.numeric", "numeric_jacobian": "matcalc.numeric",
         "compile": "matcalc.compiled", "equivalent": "matcalc.equivalence",
         "check_derivative": "matcalc.equivalence", "to_dot": "matcalc.graph"}


def __getattr__(name):
    """Numeric entry points load NumPy only when first used (``to_dot`` is simply rare)."""
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in ("autograd", "codegen"):
        import importlib
        return importlib.import_module("matcalc." + name)
    raise AttributeError(f"module 'matcalc' has no attribute {name!r}")
