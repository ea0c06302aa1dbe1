"""Process-wide switches that every operation reads: grad mode and the forward-mode table.

Grad mode decides whether operations are recorded (``no_grad``, ``enable_grad``,
``set_grad_enabled``, as in torch, but for the whole process rather than per thread).  While
``jvp`` runs, ``MODE.tangents`` maps each tensor carrying a tangent to it.  ``RETAINED`` holds
the non-leaf tensors whose ``.grad`` is kept (``retain_grad``).
"""

from __future__ import annotations

import functools
import weakref

__all__ = ["MODE", "RETAINED", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]


class _Mode:
    """Process-wide switches read on every operation (not per thread, unlike torch)."""

    __slots__ = ("grad", "tangents")

    def __init__(self):
        self.grad = True        # record graphs?
        self.tangents = None    # forward mode: {id(tensor): (tensor, tangent array)} or None


MODE = _Mode()
RETAINED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


class _GradMode:
    """Context manager and decorator that sets grad mode inside its block."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self.prev = []

    def __enter__(self):
        self.prev.append(MODE.grad)
        MODE.grad = self.mode
        return self

    def __exit__(self, *exc):
        MODE.grad = self.prev.pop()
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with _GradMode(mode):
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """``with no_grad():`` computes without recording a graph (also ``@no_grad()`` or
    ``@no_grad`` on a function)."""

    def __new__(cls, fn=None):
        if fn is not None:              # used bare, as @no_grad
            return cls()(fn)
        return super().__new__(cls)

    def __init__(self, fn=None):
        super().__init__(False)


class enable_grad(_GradMode):
    """``with enable_grad():`` records again inside a ``no_grad`` block (also a decorator)."""

    def __new__(cls, fn=None):
        if fn is not None:
            return cls()(fn)
        return super().__new__(cls)

    def __init__(self, fn=None):
        super().__init__(True)


class set_grad_enabled(_GradMode):
    """Set grad mode now (``set_grad_enabled(False)``) or for a ``with`` block, as torch's."""

    def __init__(self, mode: bool):
        super().__init__(mode)
        self.prev.append(MODE.grad)
        MODE.grad = self.mode

    def __enter__(self):
        return self

    def __call__(self, fn):
        MODE.grad = self.prev.pop()     # as a decorator it changes nothing now
        return super().__call__(fn)


def is_grad_enabled() -> bool:
    """True while operations are recorded for backward."""
    return MODE.grad
