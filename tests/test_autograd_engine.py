"""The graph and the backward pass: depth, accumulation, grad modes, grad(), the Tensor API."""

from __future__ import annotations

import gc
import sys

import numpy as np

from matcalc import autograd as ag


# ---- depth: iterative, never recursive ----------------------------------------------------------
def test_backward_through_a_100000_deep_chain():
    assert sys.getrecursionlimit() < 100_000
    x = ag.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0 + 0.0
    y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0
    (g,) = ag.grad(y, x)
    assert g.item() == 1.0
    del y
    gc.collect()                               # freeing the chain must not recurse either


def test_create_graph_through_a_deep_chain():
    x = ag.tensor(0.5, requires_grad=True)
    y = x
    for _ in range(5_000):
        y = ag.sin(y) * 0.5 + y * 0.5
    (g,) = ag.grad(y, x, create_graph=True)
    (gg,) = ag.grad(g, x)
    assert np.isfinite(gg.item())


# ---- accumulation and the graph -----------------------------------------------------------------
def test_backward_twice_accumulates_and_the_graph_is_kept():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]
    x.grad.zero_()
    assert x.grad.tolist() == [0.0, 0.0]


def test_shared_subexpressions_add_their_gradients():
    x = ag.tensor(3.0, requires_grad=True)
    a = x * x
    y = a * a + a          # x^4 + x^2
    y.backward()
    assert x.grad.item() == 4 * 27 + 6


def test_backward_with_gradient_on_a_non_scalar():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).backward(ag.tensor([1.0, 0.0, 10.0]))
    assert x.grad.tolist() == [2.0, 0.0, 60.0]


def test_backward_on_a_leaf_and_with_inputs():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    w = ag.tensor([3.0, 4.0], requires_grad=True)
    x.backward(ag.ones(2))
    assert x.grad.tolist() == [1.0, 1.0]
    (x * w).sum().backward(inputs=[w])
    assert w.grad.tolist() == [1.0, 2.0] and x.grad.tolist() == [1.0, 1.0]


def test_broadcast_gradients_sum_back_to_each_shape():
    a = ag.ones(3, 1, requires_grad=True)
    b = ag.ones(4, requires_grad=True)
    c = ag.tensor(2.0, requires_grad=True)
    (a * b * c).sum().backward()
    assert a.grad.shape == (3, 1) and a.grad.tolist() == [[8.0]] * 3
    assert b.grad.tolist() == [6.0] * 4 and c.grad.item() == 12.0


def test_detach_cuts_the_graph_and_shares_memory():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    u = y.detach()
    assert not u.requires_grad and u.grad_fn is None and u.is_leaf
    assert np.shares_memory(u.numpy(), y.detach().numpy())
    (u * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]


def test_no_grad_enable_grad_and_set_grad_enabled():
    x = ag.ones(2, requires_grad=True)
    with ag.no_grad():
        y = x * 2
        with ag.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and ag.is_grad_enabled()

    @ag.no_grad()
    def double(t):
        return t * 2
    assert not double(x).requires_grad and ag.is_grad_enabled()

    @ag.no_grad
    def triple(t):
        """Docstring kept."""
        return t * 3
    assert not triple(x).requires_grad and triple.__doc__ == "Docstring kept."
    ag.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        ag.set_grad_enabled(True)
    with ag.set_grad_enabled(False):
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()


def test_sgd_step_in_place_under_no_grad():
    w = ag.tensor([1.0, -2.0], requires_grad=True)
    for _ in range(100):
        loss = ((w - ag.tensor([3.0, 4.0])) ** 2).sum()
        loss.backward()
        with ag.no_grad():
            w -= 0.1 * w.grad
        w.grad.zero_()
    assert w.is_leaf and w.requires_grad
    np.testing.assert_allclose(w.detach().numpy(), [3.0, 4.0], atol=1e-8)


def test_retain_grad_on_a_non_leaf():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    (y * y).sum().backward()
    assert y.grad.tolist() == [6.0, 12.0]
    assert x.grad.tolist() == [18.0, 36.0]
    z = x * 3
    (z * z).sum().backward()
    assert z.grad is None                      # not retained: like torch (without its warning)


# ---- grad() -------------------------------------------------------------------------------------
def test_grad_returns_a_tuple_and_leaves_dot_grad_alone():
    x = ag.tensor(2.0, requires_grad=True)
    w = ag.tensor(3.0, requires_grad=True)
    gx, gw = ag.grad(x * w, [x, w])
    assert (gx.item(), gw.item()) == (3.0, 2.0)
    assert x.grad is None and w.grad is None
    assert not gx.requires_grad


def test_grad_of_several_outputs_and_non_leaf_inputs():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    y1, y2 = h.sum(), (h * 3).sum()
    (gh,) = ag.grad([y1, y2], h)
    assert gh.tolist() == [4.0, 4.0]
    (gx,) = ag.grad([y1, h], x, grad_outputs=[ag.tensor(1.0), ag.ones(2)])
    assert gx.tolist() == [4.0, 8.0]
    (gy,) = ag.grad(y1, y1)
    assert gy.item() == 1.0


def test_grad_allow_unused_and_materialize():
    x, unused = ag.ones(2, requires_grad=True), ag.ones(3, requires_grad=True)
    gx, gu = ag.grad(x.sum(), [x, unused], allow_unused=True)
    assert gu is None and gx.tolist() == [1.0, 1.0]
    _, gu = ag.grad(x.sum(), [x, unused], materialize_grads=True)
    assert gu.tolist() == [0.0, 0.0, 0.0]


def test_create_graph_backward_gives_differentiable_grad():
    x = ag.tensor(2.0, requires_grad=True)
    (x ** 3).backward(create_graph=True)
    assert repr(x.grad) == "tensor(12., grad_fn=<MulBackward0>)"
    (gg,) = ag.grad(x.grad, x)
    assert gg.item() == 12.0


def test_grad_fn_names_follow_torch():
    x = ag.arange(4.0, requires_grad=True)
    a = ag.ones(3, 3, requires_grad=True)
    v = ag.ones(3, requires_grad=True)
    names = {
        "AddBackward0": x + 1, "SubBackward0": x - 2, "RsubBackward1": 2 - x,
        "MulBackward0": 2 * x, "DivBackward0": x / 2, "PowBackward0": x ** 2,
        "PowBackward1": x ** x, "PowBackward2": 2 ** x, "NegBackward0": -x,
        "ExpBackward0": x.exp(), "SumBackward0": x.sum(), "SumBackward1": a.sum(0),
        "DotBackward0": ag.dot(v, v), "MvBackward0": a @ v, "MmBackward0": a @ a,
        "PermuteBackward0": a.T, "ViewBackward0": x.reshape(2, 2),
        "SelectBackward0": x[0], "SliceBackward0": x[1:3], "IndexBackward0": x[[0, 1]],
        "LinalgVectorNormBackward0": x.norm(), "LinalgInvExBackward0": ag.inv(a + ag.eye(3)),
        "LinalgDetBackward0": ag.det(a), "ReluBackward0": ag.relu(x),
        "SigmoidBackward0": ag.sigmoid(x), "TanhBackward0": x.tanh(),
        "ExpandBackward0": x.expand(2, 4),
    }
    for name, t in names.items():
        assert t.grad_fn.name() == name
        assert repr(t.grad_fn).startswith(f"<{name} object at 0x")
    assert x.grad_fn is None and x.is_leaf and not (x + 1).is_leaf


# ---- the Tensor API -----------------------------------------------------------------------------
def test_dtypes_and_creation():
    assert ag.arange(4).dtype == np.int64 and ag.arange(4.0).dtype == np.float64
    assert ag.tensor(1).dtype == np.int64 and ag.tensor(1.5).dtype == np.float64
    assert ag.tensor(True).dtype == np.bool_ and ag.zeros(2).dtype == np.float64
    assert ag.ones((2, 3)).shape == (2, 3) and ag.zeros([2]).shape == (2,)
    assert ag.randn(2, 3).shape == (2, 3) and ag.randn(size=()).shape == ()
    assert ag.rand(5).numpy().min() >= 0.0 and ag.eye(2).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert ag.full((2,), 7.0).tolist() == [7.0, 7.0]
    assert ag.zeros_like(ag.ones(3)).tolist() == [0.0] * 3
    assert ag.tensor([1.0], dtype=ag.float32).dtype == np.float32
    data = np.arange(3.0)
    t = ag.tensor(data)
    data[0] = 9.0
    assert t.tolist() == [0.0, 1.0, 2.0]        # tensor() copies
    ag.manual_seed(3)
    a = ag.randn(4)
    ag.manual_seed(3)
    assert ag.equal(a, ag.randn(4))


def test_tensor_properties_and_conversions():
    x = ag.arange(6.0).reshape(2, 3)
    assert (x.shape, x.ndim, x.dtype, len(x), x.numel()) == ((2, 3), 2, np.float64, 2, 6)
    assert x.size() == (2, 3) and x.size(1) == 3 and x.dim() == 2
    assert x.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert x.T.shape == (3, 2) and x.t().tolist() == x.numpy().T.tolist()
    assert x[1, 2].item() == 5.0 and x[:, 1].tolist() == [1.0, 4.0]
    assert [row.tolist() for row in x] == x.tolist()
    assert float(x.sum()) == 15.0 and int(x[0, 1]) == 1
    assert f"{x.sum():.2f}" == "15.00"
    assert np.asarray(x).shape == (2, 3)
    assert ag.arange(3)[ag.tensor(1)].item() == 1 and [0, 1, 2][ag.tensor(2)] == 2
    assert x.flatten().shape == (6,) and x.unsqueeze(0).shape == (1, 2, 3)
    assert x.reshape(1, 6).squeeze().shape == (6,)


def test_comparisons_give_boolean_tensors():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    assert repr(x > 1.5) == "tensor([False,  True,  True])"
    assert (x == x).tolist() == [True] * 3 and (x != 2).tolist() == [True, False, True]
    assert (x <= 2).tolist() == [True, True, False] and (x >= 3).tolist() == [False, False, True]
    assert (x < np.array([2.0, 2.0, 2.0])).tolist() == [True, False, False]
    assert not (x > 0).requires_grad
    assert bool(ag.tensor(True)) and (x.sum() > 0)
    assert ag.all(x > 0).item() and not ag.any(x > 5).item() and (x > 0).all().item()
    assert x in {x}                             # hashable by identity


def test_reflected_operators_with_scalars_and_arrays():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    a = np.array([10.0, 20.0])
    ys = [1 + x, 1 - x, 2 * x, 2 / x, 2 ** x, a + x, a - x, a * x, a / x, a ** x]
    assert all(type(y) is ag.Tensor and y.requires_grad for y in ys)
    assert (a - x).tolist() == [9.0, 18.0] and (2 / x).tolist() == [2.0, 1.0]
    assert (np.eye(2) @ x).tolist() == [1.0, 2.0] and (x @ np.eye(2)).tolist() == [1.0, 2.0]
    assert ([1.0, 1.0] + x).tolist() == [2.0, 3.0] and (+x) is x and abs(-x).tolist() == [1, 2]
    sum(ys).sum().backward()
    assert x.grad is not None and np.all(np.isfinite(x.grad.numpy()))


def test_integer_tensors_compute_but_do_not_require_grad():
    i = ag.arange(4)
    assert (i * 2).dtype == np.int64 and (i / 2).dtype == np.float64
    assert repr(i * 2) == "tensor([0, 2, 4, 6])"
    x = ag.arange(4.0, requires_grad=True)
    y = (x * i).sum()
    y.backward()
    assert x.grad.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_setitem_outside_the_graph():
    x = ag.zeros(3)
    x[1] = 5.0
    x[ag.tensor([0, 2])] = ag.tensor([1.0, 2.0])
    assert x.tolist() == [1.0, 5.0, 2.0]
