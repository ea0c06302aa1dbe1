"""Every deliberate error: its matcalc type, the builtin kind torch users catch, its message."""

from __future__ import annotations

import numpy as np
import pytest

from matcalc import autograd as ag
from matcalc.errors import (AutogradError, AutogradShapeError, AutogradValueError, LinAlgError,
                            MatcalcError)

# (what, action, error type, builtin kind, text the message contains)
ERRORS = [
    ("backward of a non-scalar without gradient",
     lambda: (ag.ones(3, requires_grad=True) * 2).backward(),
     AutogradError, RuntimeError, "grad can be implicitly created only for scalar outputs"),
    ("grad of a non-scalar without grad_outputs",
     lambda: ag.grad(ag.ones(2, requires_grad=True) * 2, []),
     AutogradError, RuntimeError, "grad can be implicitly created only for scalar outputs"),
    ("requires_grad on an integer tensor",
     lambda: ag.tensor([1, 2], requires_grad=True),
     AutogradError, RuntimeError, "Only Tensors of floating point dtype can require gradients"),
    ("requires_grad_ on arange(4)",
     lambda: ag.arange(4).requires_grad_(),
     AutogradError, RuntimeError, "Only Tensors of floating point dtype can require gradients"),
    ("requires_grad attribute on an integer tensor",
     lambda: setattr(ag.zeros(2, dtype=ag.int64), "requires_grad", True),
     AutogradError, RuntimeError, "Only Tensors of floating point dtype can require gradients"),
    ("backward of a tensor that does not require grad",
     lambda: ag.ones(3).sum().backward(),
     AutogradError, RuntimeError,
     "element 0 of tensors does not require grad and does not have a grad_fn"),
    ("grad of an output that does not require grad",
     lambda: ag.grad(ag.ones(3).sum(), ag.ones(3, requires_grad=True)),
     AutogradError, RuntimeError,
     "element 0 of tensors does not require grad and does not have a grad_fn"),
    ("grad w.r.t. a tensor that does not require grad",
     lambda: ag.grad(ag.ones(3, requires_grad=True).sum(), ag.ones(3)),
     AutogradError, RuntimeError, "One of the differentiated Tensors does not require grad"),
    ("grad w.r.t. an unused tensor",
     lambda: ag.grad(ag.ones(3, requires_grad=True).sum(), ag.ones(2, requires_grad=True)),
     AutogradError, RuntimeError,
     "The differentiated Tensor at index 0 appears to not have been used in the graph"),
    ("backward with a gradient of the wrong shape",
     lambda: (ag.ones(3, requires_grad=True) * 2).backward(ag.ones(2)),
     AutogradShapeError, RuntimeError,
     "Mismatch in shape: grad_output[0] has a shape of (2,) and output[0] has a shape of (3,)"),
    ("matmul of unaligned shapes",
     lambda: ag.ones(2, 3) @ ag.ones(4),
     AutogradShapeError, RuntimeError, "matmul: shapes (2, 3) and (4,) are not aligned"),
    ("matmul of unaligned matrices",
     lambda: ag.matmul(ag.ones(2, 3), ag.ones(2, 3)),
     AutogradShapeError, RuntimeError,
     "matmul: shapes (2, 3) and (2, 3) are not aligned: 3 (dim 1) != 2 (dim 0)"),
    ("matmul of a 0-d tensor",
     lambda: ag.tensor(2.0) @ ag.ones(2),
     AutogradShapeError, RuntimeError, "matmul: both operands need at least one dimension"),
    ("broadcasting failure",
     lambda: ag.ones(2, 3) + ag.ones(4),
     AutogradShapeError, RuntimeError, "add: shapes (2, 3) and (4,) cannot be broadcast"),
    ("broadcasting failure with an array",
     lambda: np.ones(4) * ag.ones(2, 3),
     AutogradShapeError, RuntimeError, "mul: shapes (4,) and (2, 3) cannot be broadcast"),
    ("comparison of unbroadcastable shapes",
     lambda: ag.ones(2) < ag.ones(3),
     AutogradShapeError, RuntimeError, "shapes (2,) and (3,) cannot be broadcast"),
    ("dot of matrices",
     lambda: ag.dot(ag.ones(2, 2), ag.ones(2)),
     AutogradShapeError, RuntimeError, "dot: 1D tensors expected, but got 2D and 1D tensors"),
    ("dot of different lengths",
     lambda: ag.dot(ag.ones(3), ag.ones(4)),
     AutogradShapeError, RuntimeError, "dot: shapes (3,) and (4,) have different lengths"),
    ("reshape to the wrong size",
     lambda: ag.ones(2, 3).reshape(4),
     AutogradShapeError, RuntimeError,
     "reshape: cannot reshape a tensor of shape (2, 3) (6 elements) into shape (4,)"),
    ("inv of a singular matrix",
     lambda: ag.inv(ag.tensor([[1.0, 2.0], [2.0, 4.0]])),
     LinAlgError, RuntimeError, "inv: the matrix is singular"),
    ("inv of a non-square matrix",
     lambda: ag.inv(ag.ones(2, 3)),
     LinAlgError, RuntimeError, "inv: expected a square matrix (or a batch of them), got shape "
                                "(2, 3)"),
    ("det of a non-square matrix",
     lambda: ag.det(ag.ones(2, 3)),
     LinAlgError, RuntimeError, "det: expected a square matrix"),
    ("det of a vector",
     lambda: ag.det(ag.ones(3)),
     LinAlgError, RuntimeError, "det: expected a square matrix (or a batch of them), got shape "
                                "(3,)"),
    ("gradient of det at a singular matrix",
     lambda: ag.det(ag.zeros(2, 2, requires_grad=True)).backward(),
     LinAlgError, RuntimeError, "det: the derivative at a singular matrix"),
    ("logdet of a negative determinant",
     lambda: ag.logdet(ag.tensor([[-1.0, 0.0], [0.0, 1.0]])),
     LinAlgError, RuntimeError, "logdet: the determinant is negative; logdet needs det > 0"),
    ("logdet of a singular matrix",
     lambda: ag.logdet(ag.zeros(2, 2)),
     LinAlgError, RuntimeError, "logdet: the determinant is zero (the matrix is singular)"),
    ("item of several elements",
     lambda: ag.ones(3).item(),
     AutogradError, RuntimeError, "a Tensor with 3 elements cannot be converted to Scalar"),
    ("bool of several elements",
     lambda: bool(ag.ones(3) > 0),
     AutogradError, RuntimeError, "Boolean value of Tensor with more than one value is ambiguous"),
    ("len of a 0-d tensor",
     lambda: len(ag.tensor(1.0)),
     MatcalcError, TypeError, "len() of a 0-d tensor"),
    ("numpy of a tensor that requires grad",
     lambda: ag.ones(2, requires_grad=True).numpy(),
     AutogradError, RuntimeError, "Can't call numpy() on Tensor that requires grad"),
    ("in-place on a leaf that requires grad",
     lambda: ag.ones(2, requires_grad=True).add_(1),
     AutogradError, RuntimeError,
     "a leaf Variable that requires grad is being used in an in-place operation."),
    ("in-place on a recorded tensor",
     lambda: (ag.ones(2, requires_grad=True) * 2).zero_(),
     AutogradError, RuntimeError, "in-place operations on a tensor that is part of a recorded "
                                  "graph are not supported"),
    ("requires_grad=False on a non-leaf",
     lambda: (ag.ones(2, requires_grad=True) * 2).requires_grad_(False),
     AutogradError, RuntimeError, "you can only change requires_grad flags of leaf variables"),
    ("retain_grad without requires_grad",
     lambda: ag.ones(2).retain_grad(),
     AutogradError, RuntimeError, "can't retain_grad on Tensor that has requires_grad=False"),
    ("tensor from strings",
     lambda: ag.tensor(["a", "b"]),
     AutogradValueError, ValueError, "only bool, integer and float tensors exist"),
    ("zeros with a negative size",
     lambda: ag.zeros(-1),
     AutogradValueError, ValueError, "zeros: negative dimension in size (-1,)"),
    ("integer to a negative integer power",
     lambda: ag.arange(3) ** -1,
     AutogradValueError, ValueError, "pow: Integers to negative integer powers are not allowed"),
    ("hessian of a non-scalar function",
     lambda: ag.hessian(lambda v: v * 2, ag.ones(2)),
     AutogradError, RuntimeError, "should return a single element Tensor"),
    ("jacobian with an unknown strategy",
     lambda: ag.jacobian(lambda v: v, ag.ones(2), strategy="sideways"),
     AutogradValueError, ValueError, "strategy must be 'reverse-mode' or 'forward-mode'"),
    ("jvp with a tangent of the wrong shape",
     lambda: ag.jvp(ag.sin, ag.ones(2), ag.ones(3)),
     AutogradShapeError, RuntimeError, "jvp: tangent 0 has shape (3,) but its primal has shape "
                                       "(2,)"),
    ("nested jvp",
     lambda: ag.jvp(lambda v: ag.jvp(ag.sin, v, v)[1], ag.ones(2), ag.ones(2)),
     AutogradError, RuntimeError, "jvp: nested forward mode"),
    ("grad w.r.t. something that is not a tensor",
     lambda: ag.grad(ag.ones(2, requires_grad=True).sum(), [1.0]),
     MatcalcError, TypeError, "inputs must be Tensors, got float"),
    ("unknown primitive name",
     lambda: ag.call("frobnicate", ag.ones(2)),
     AutogradValueError, ValueError, "no primitive named 'frobnicate'"),
    ("subclassing Tensor",
     lambda: type("MyTensor", (ag.Tensor,), {}),
     MatcalcError, TypeError, "Tensor cannot be subclassed"),
]


@pytest.mark.parametrize("what,action,kind,builtin,text", ERRORS, ids=[e[0] for e in ERRORS])
def test_error(what, action, kind, builtin, text):
    with pytest.raises(kind) as info:
        action()
    assert isinstance(info.value, MatcalcError)
    assert isinstance(info.value, builtin)
    assert text in str(info.value)


def test_linalg_error_is_also_catchable_as_runtime_error():
    with pytest.raises(RuntimeError, match="singular"):
        ag.inv(ag.zeros(3, 3))


def test_operations_with_unsupported_operands_are_type_errors():
    with pytest.raises(TypeError):
        ag.ones(2) + "a"
    with pytest.raises(TypeError):
        ag.ones(2) * object()
    with pytest.raises(MatcalcError, match="mul: unsupported operand of type object"):
        ag.mul(ag.ones(2), object())


def test_errors_leave_grad_mode_and_forward_mode_clean():
    with pytest.raises(AutogradError):
        with ag.no_grad():
            ag.ones(3).item()
    assert ag.is_grad_enabled()
    with pytest.raises(AutogradShapeError):
        ag.jvp(lambda v: v.reshape(7), ag.ones(2), ag.ones(2))
    y, dy = ag.jvp(ag.sin, ag.zeros(1), ag.ones(1))
    assert dy.tolist() == [1.0]
