"""Whole-function derivatives: ``jvp`` (forward accumulation), ``vjp``, ``jacobian``, ``hessian``.

``jvp`` is true forward mode: while ``f`` runs, every primitive also computes its output's
tangent from its inputs' tangents with its JVP rule (a tangent table beside the values, i.e.
dual numbers), so d f(x)[v] arrives with f(x) in one pass and no graph is kept.

``jacobian(f, x)`` has shape ``f(x).shape + x.shape`` (numerator layout: for f: R^n -> R^m it
is m x n), built row by row in reverse mode or column by column in forward mode.
``hessian(f, x)`` of a scalar f has shape ``x.shape + x.shape``.  Results are constants.
"""

from __future__ import annotations

import numpy as np

from matcalc.autograd.engine import grad
from matcalc.autograd.mode import MODE
from matcalc.autograd.tensor import Tensor, _const, as_tensor
from matcalc.errors import AutogradError, AutogradShapeError, AutogradValueError

__all__ = ["jvp", "vjp", "jacobian", "hessian"]


def _inputs(xs, what):
    single = type(xs) is Tensor or not isinstance(xs, (tuple, list))
    xs = (xs,) if single else tuple(xs)
    arrays = []
    for x in xs:
        a = as_tensor(x)._data
        if a.dtype.kind != "f":
            raise AutogradValueError(f"{what}: inputs must be floating point tensors, got dtype "
                                     f"{a.dtype}")
        arrays.append(a)
    return single, arrays


def _outputs(out, what):
    single = type(out) is Tensor
    outs = (out,) if single else tuple(out)
    for o in outs:
        if type(o) is not Tensor:
            raise AutogradValueError(f"{what}: the function must return Tensors, got "
                                     f"{type(o).__name__}")
    return single, outs


def jvp(f, primals, tangents):
    """``(f(*primals), J(primals) @ tangents)`` by forward accumulation.

    ``primals`` and ``tangents`` are a tensor each, or matching tuples.

    >>> from matcalc.autograd import tensor, sin
    >>> jvp(sin, tensor(0.0), tensor(2.0))
    (tensor(0.), tensor(2.))
    """
    if MODE.tangents is not None:
        raise AutogradError("jvp: nested forward mode (jvp inside jvp) is not supported")
    single, arrays = _inputs(primals, "jvp")
    tans = (tangents,) if type(tangents) is Tensor or not isinstance(tangents, (tuple, list)) \
        else tuple(tangents)
    tans = [np.asarray(as_tensor(t)._data, dtype=np.float64) for t in tans]
    if len(tans) != len(arrays):
        raise AutogradValueError(f"jvp: {len(arrays)} primals but {len(tans)} tangents")
    table = {}
    xs = []
    for i, (p, t) in enumerate(zip(arrays, tans)):
        if t.shape != p.shape:
            raise AutogradShapeError(f"jvp: tangent {i} has shape {t.shape} but its primal has "
                                     f"shape {p.shape}")
        x = _const(p)
        table[id(x)] = (x, t)
        xs.append(x)
    MODE.tangents = table
    try:
        out = f(*xs)
    finally:
        MODE.tangents = None
    one, outs = _outputs(out, "jvp")
    values, derivs = [], []
    for o in outs:
        entry = table.get(id(o))
        values.append(_const(o._data))
        derivs.append(_const(np.array(entry[1])) if entry is not None
                      else _const(np.zeros(o.shape)))
    return (values[0], derivs[0]) if one else (tuple(values), tuple(derivs))


def vjp(f, inputs, v=None):
    """``(f(*inputs), v @ J(inputs))`` by reverse accumulation (torch.autograd.functional)."""
    single, arrays = _inputs(inputs, "vjp")
    xs = [_const(a.copy()).requires_grad_() for a in arrays]
    out = f(*xs)
    one, outs = _outputs(out, "vjp")
    if not any(o.requires_grad for o in outs):
        gs = tuple(_const(np.zeros_like(a)) for a in arrays)
    else:
        gs = grad(outs, xs, v, materialize_grads=True)
    values = tuple(_const(o._data) for o in outs)
    return (values[0] if one else values), (gs[0] if single else gs)


def _jacobian_reverse(f, x):
    x0 = _const(x.copy()).requires_grad_()
    y = f(x0)
    if type(y) is not Tensor:
        raise AutogradValueError("jacobian: the function must return a Tensor")
    rows = np.zeros((y._data.size, x.size))
    if y.requires_grad:
        seed = np.zeros(y._data.size)
        for i in range(y._data.size):
            seed[i] = 1.0
            (g,) = grad(y, x0, seed.reshape(y.shape), materialize_grads=True)
            rows[i] = g._data.reshape(-1)
            seed[i] = 0.0
    return rows.reshape(y.shape + x.shape)


def _jacobian_forward(f, x):
    cols = None
    tangent = np.zeros(x.size)
    for j in range(x.size):
        tangent[j] = 1.0
        y, dy = jvp(f, _const(x), _const(tangent.reshape(x.shape)))
        tangent[j] = 0.0
        if cols is None:
            cols = np.zeros((y._data.size, x.size))
            shape = y.shape
        cols[:, j] = dy._data.reshape(-1)
    if cols is None:                    # x has no elements
        y = f(_const(x))
        return np.zeros(y.shape + x.shape)
    return cols.reshape(shape + x.shape)


def jacobian(f, x, strategy: str = "reverse-mode") -> Tensor:
    """The Jacobian of ``f`` at ``x``, shape ``f(x).shape + x.shape``.

    ``strategy="reverse-mode"`` (one backward pass per output element) or
    ``"forward-mode"`` (one jvp per input element).

    >>> from matcalc.autograd import tensor
    >>> jacobian(lambda v: v * v, tensor([1.0, 2.0]))
    tensor([[2., 0.],
            [0., 4.]])
    """
    _, (a,) = _inputs(x, "jacobian")
    if strategy == "reverse-mode":
        return _const(_jacobian_reverse(f, a))
    if strategy == "forward-mode":
        return _const(_jacobian_forward(f, a))
    raise AutogradValueError(f"jacobian: strategy must be 'reverse-mode' or 'forward-mode', "
                             f"got {strategy!r}")


def hessian(f, x) -> Tensor:
    """The Hessian of a scalar ``f`` at ``x``, shape ``x.shape + x.shape``.

    >>> from matcalc.autograd import tensor
    >>> hessian(lambda v: (v ** 3).sum(), tensor([1.0, 2.0]))
    tensor([[ 6.,  0.],
            [ 0., 12.]])
    """
    _, (a,) = _inputs(x, "hessian")
    x0 = _const(a.copy()).requires_grad_()
    y = f(x0)
    if type(y) is not Tensor or y._data.size != 1:
        raise AutogradError("hessian: the function given to hessian should return a single "
                            "element Tensor")
    h = np.zeros((a.size, a.size))
    if y.requires_grad:
        (g,) = grad(y, x0, create_graph=True, materialize_grads=True)
        if g.requires_grad:
            seed = np.zeros(a.size)
            for i in range(a.size):
                seed[i] = 1.0
                (row,) = grad(g, x0, seed.reshape(a.shape), materialize_grads=True)
                h[i] = row._data.reshape(-1)
                seed[i] = 0.0
    return _const(h.reshape(a.shape + a.shape))
