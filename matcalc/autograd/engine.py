"""Reverse accumulation: ``backward`` and ``grad`` over the recorded graph, without recursion.

One pass counts, for every node reachable from the outputs, how many edges lead into it; a
second pass takes nodes whose count has fallen to zero (all their gradient has arrived),
applies each input's VJP and adds the result into that input's gradient.  This is a
topological order found iteratively (Kahn's algorithm), so a graph 100,000 operations deep
needs no Python recursion.

Without ``create_graph`` the rules run on ndarrays and no Tensor is made until the end.  With
it they run on Tensors and record, so the gradient can be differentiated again.  Nothing is
freed: every graph can be walked again (``retain_graph`` is always true in effect).
"""

from __future__ import annotations

import numpy as np

from matcalc.autograd.primitives import P, sum_to_raw
from matcalc.autograd.mode import MODE, RETAINED, _GradMode
from matcalc.autograd.tensor import AutogradTypeError, Tensor, _const, as_tensor
from matcalc.errors import AutogradError, AutogradShapeError

__all__ = ["backward", "grad", "backprop"]

_ndarray = np.ndarray


def backprop(roots, seeds, create_graph, want=(), taken=None):
    """Gradients of ``sum(seed * root)`` w.r.t. every leaf (and the non-leaves in ``want``).

    Returns ``(leaves, captured)``: ``{id: [leaf, grad]}`` and ``{id: grad}``.  ``taken`` is
    the set of ids of arrays already owned elsewhere (see ``_adopt``).  Scratch state lives
    on the nodes (``_deps``: edges still to come, ``_g``: gradient so far); pass 1 resets it
    on every node it reaches, so nothing is left over from an earlier, interrupted pass.
    """
    # Pass 1: count the edges into each reachable non-leaf node.
    T = Tensor
    stack = []
    seen = set()
    for r in roots:
        if r._prim is not None and id(r) not in seen:
            seen.add(id(r))
            r._deps = 0
            r._g = None
            stack.append(r)
    starts = list(stack)
    pop, push, mark = stack.pop, stack.append, seen.add
    while stack:
        for a in pop()._inputs:
            if type(a) is T and a._prim is not None and a._rg:
                if id(a) in seen:
                    a._deps += 1
                else:
                    mark(id(a))
                    a._deps = 1
                    a._g = None
                    push(a)

    # Pass 2: propagate in topological order (a node is ready when all its edges are in).
    leaves = {}
    captured = {}
    for r, s in zip(roots, seeds):
        if r._prim is None:
            entry = leaves.get(id(r))
            leaves[id(r)] = [r, s] if entry is None else [r, entry[1] + s]
        else:
            r._g = s if r._g is None else r._g + s
    ready = [r for r in starts if r._deps == 0]
    retained = RETAINED if len(RETAINED) else None
    mode = _GradMode(True) if create_graph else None
    if mode:
        mode.__enter__()
    pop, push, leaves_get = ready.pop, ready.append, leaves.get
    try:
        while ready:
            node = pop()
            g = node._g
            node._g = None
            if want and id(node) in want:
                captured[id(node)] = g
            if retained is not None and id(node) in retained:
                _accumulate(node, g, create_graph, taken)
            prim = node._prim
            vjps = prim.vjps
            check = prim.unbroadcast
            if create_graph:
                ans, args = node, node._inputs
            else:
                ans, args = node._data, node._raw
            i = -1
            for a in node._inputs:
                i += 1
                if type(a) is not T or not a._rg:
                    continue
                gi = vjps[i](g, ans, *args)
                if create_graph:
                    if type(gi) is not T:
                        gi = _const(np.asarray(gi))
                    if check and gi._data.shape != a._data.shape:
                        gi = P.sum_to(gi, a._data.shape)
                elif check and gi.shape != a._data.shape:
                    gi = sum_to_raw(gi, a._data.shape)
                if a._prim is None:
                    entry = leaves_get(id(a))
                    if entry is None:
                        leaves[id(a)] = [a, gi]
                    else:
                        entry[1] = entry[1] + gi
                else:
                    prev = a._g
                    a._g = gi if prev is None else prev + gi
                    a._deps -= 1
                    if not a._deps:
                        push(a)
    finally:
        if mode:
            mode.__exit__(None, None, None)
    return leaves, captured


def _adopt(g, dtype, taken):
    """``g`` itself if the engine made it and nothing else holds it, else a copy.

    Rules may pass ``g`` through unchanged (add does, to both operands), so an array is
    adopted at most once; seeds are never adopted (they may be the caller's).
    """
    if (type(g) is _ndarray and g.dtype == dtype and g.flags.owndata and g.flags.writeable
            and id(g) not in taken):
        taken.add(id(g))
        return g
    return np.array(g, dtype=dtype)


def _accumulate(t: Tensor, g, create_graph: bool, taken: set) -> None:
    """``t.grad += g``: in place on a gradient we own, out of place when recording."""
    if create_graph:
        t.grad = g if t.grad is None else t.grad + g
    elif t.grad is None:
        t.grad = _const(_adopt(g, t._data.dtype, taken))
    elif not t.grad._rg and t.grad._data.flags.writeable:
        t.grad._data += g
    else:
        t.grad = _const(t.grad._data + g)


def _seeds(outputs, grad_outputs, create_graph):
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    elif type(grad_outputs) is Tensor or not isinstance(grad_outputs, (tuple, list)):
        grad_outputs = (grad_outputs,)
    if len(grad_outputs) != len(outputs):
        raise AutogradError(f"grad requires one grad_output per output: got "
                            f"{len(grad_outputs)} for {len(outputs)} outputs")
    seeds = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if g is None:
            if out._data.size != 1:
                raise AutogradError("grad can be implicitly created only for scalar outputs")
            dtype = out._data.dtype if out._data.dtype.kind == "f" else np.float64
            g = np.ones(out._data.shape, dtype=dtype)
        else:
            g = as_tensor(g)
            if g._data.shape != out._data.shape:
                raise AutogradShapeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {g._data.shape} "
                    f"and output[{i}] has a shape of {out._data.shape}.")
            g = g if create_graph else g._data
        if create_graph and type(g) is not Tensor:
            g = _const(g)
        seeds.append(g)
    return seeds


def _tuple(xs, what):
    if type(xs) is Tensor:
        return (xs,)
    xs = tuple(xs)
    for x in xs:
        if type(x) is not Tensor:
            raise AutogradTypeError(f"{what} must be Tensors, got {type(x).__name__}")
    return xs


def _check_outputs(outputs):
    for i, out in enumerate(outputs):
        if not out._rg:
            raise AutogradError(f"element {i} of tensors does not require grad and does not "
                                "have a grad_fn")


def backward(tensor, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    """Add d(tensor)/d(leaf), weighted by ``gradient``, into each leaf's ``.grad``.

    ``gradient`` may be omitted only for a one-element tensor.  The graph is kept
    (``retain_graph`` is accepted for torch compatibility; it is always in effect).
    """
    outputs = (tensor,)
    _check_outputs(outputs)
    create_graph = bool(create_graph) or MODE.tangents is not None
    seeds = _seeds(outputs, None if gradient is None else (gradient,), create_graph)
    taken = {id(s) for s in seeds}
    leaves, _ = backprop(outputs, seeds, create_graph, taken=taken)
    only = None if inputs is None else {id(x) for x in _tuple(inputs, "inputs")}
    for k, (leaf, g) in leaves.items():
        if only is None or k in only:
            _accumulate(leaf, g, create_graph, taken)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, materialize_grads=False):
    """The gradients of ``outputs`` w.r.t. ``inputs`` as a tuple, leaving ``.grad`` alone.

    With ``create_graph=True`` the results are recorded Tensors: differentiate them again
    for second and higher derivatives.

    >>> from matcalc.autograd import tensor
    >>> x = tensor(2.0, requires_grad=True)
    >>> (dx,) = grad(x ** 3, x, create_graph=True)
    >>> dx, grad(dx, x)[0]
    (tensor(12., grad_fn=<MulBackward0>), tensor(12.))
    """
    outputs = _tuple(outputs, "outputs")
    inputs = _tuple(inputs, "inputs")
    _check_outputs(outputs)
    for x in inputs:
        if not x._rg:
            raise AutogradError("One of the differentiated Tensors does not require grad")
    create_graph = bool(create_graph) or MODE.tangents is not None
    seeds = _seeds(outputs, grad_outputs, create_graph)
    want = {id(x) for x in inputs if x._prim is not None}
    taken = {id(s) for s in seeds}
    leaves, captured = backprop(outputs, seeds, create_graph, want, taken)
    result = []
    for i, x in enumerate(inputs):
        k = id(x)
        g = captured.get(k)
        if g is None and k in leaves:
            g = leaves[k][1]
        if g is None:
            if not (allow_unused or materialize_grads):
                raise AutogradError(
                    f"The differentiated Tensor at index {i} appears to not have been used "
                    "in the graph. Set allow_unused=True if this is the desired behavior.")
            result.append(_const(np.zeros_like(x._data)) if materialize_grads else None)
        elif create_graph:
            result.append(g)
        else:
            result.append(_const(_adopt(g, x._data.dtype, taken)))
    return tuple(result)


Tensor.backward = backward
