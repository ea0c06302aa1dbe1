"""Helpers the numeric tests share: central differences in matcalc's numerator layout."""

import numpy as np


def central_jacobian(f, x, eps=1e-6):
    """Jacobian of f at x by central differences, column-major vec on both sides."""
    x = np.asarray(x, dtype=float)
    flat = x.reshape(-1, order="F")
    cols = []
    for i in range(flat.size):
        step = np.zeros_like(flat)
        step[i] = eps
        hi = np.asarray(f((flat + step).reshape(x.shape, order="F")), dtype=float)
        lo = np.asarray(f((flat - step).reshape(x.shape, order="F")), dtype=float)
        cols.append(((hi - lo) / (2 * eps)).reshape(-1, order="F"))
    return np.stack(cols, axis=1)


def dims_of(expr, values) -> dict:
    """The sizes of the symbolic dimensions of ``expr``'s variables, read off their values
    (an answer such as vector(1)' or diag(vec(eye))*kron(vector(1), eye) has no variable to
    show them)."""
    dims = {}
    for name, v in expr.variables().items():
        for d, size in zip(v.shape, np.shape(values[name])):
            if isinstance(d, str):
                dims[d] = size
    return dims
