"""Every failure matcalc reports on purpose: one base class, typed subclasses.

Each error carries a message a person can act on.  Where PyTorch users expect a builtin kind
(ValueError, RuntimeError, TypeError) the subclass is also that builtin, so ``except
RuntimeError`` keeps working for code ported from torch.
"""

from __future__ import annotations


class MatcalcError(Exception):
    """Base of every error matcalc raises deliberately.

    An error about text a person typed may say where its caret is: ``line`` and ``column``
    (1-based) in ``source``, the text it quotes (the REPL moves a caret put in a piece of a
    line, such as the query after :explain, into the whole line)."""

    line: int | None = None
    column: int | None = None
    source: str | None = None


class ParseError(MatcalcError, ValueError):
    """The text is not a well-formed expression (line, column, caret, what was expected)."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.line = line
        self.column = column


class UnknownFunctionError(ParseError):
    """A function name that no loaded rule file defines."""


class ShapeError(MatcalcError, ValueError):
    """Operands whose shapes cannot be unified; names the operator, operands and position."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.line = line
        self.column = column


class RuleFileError(MatcalcError, ValueError):
    """A rules file that fails validation: names the file, line, rule and field."""


class EvaluationError(MatcalcError, ValueError):
    """Numeric evaluation failed: missing or ill-shaped values, a singular matrix, ..."""


class AutogradError(MatcalcError, RuntimeError):
    """Misuse of the autograd API, in PyTorch's words (RuntimeError as torch raises)."""


class AutogradValueError(MatcalcError, ValueError):
    """Bad arguments to the autograd API where PyTorch raises ValueError or its kin."""


class AutogradTypeError(MatcalcError, TypeError):
    """An argument of the wrong type for the autograd API, where PyTorch raises TypeError."""


class AutogradShapeError(MatcalcError, RuntimeError):
    """Operand shapes that do not broadcast or multiply; names both shapes."""


class LinAlgError(MatcalcError, RuntimeError):
    """A singular or non-square matrix given to inv, det or logdet (torch.linalg.LinAlgError)."""
