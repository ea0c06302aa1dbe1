"""matcalc.autograd: reverse- and forward-mode automatic differentiation on NumPy, PyTorch-style.

    >>> from matcalc import autograd as torch
    >>> x = torch.arange(4.0)
    >>> x.requires_grad_(True)
    tensor([0., 1., 2., 3.], requires_grad=True)
    >>> y = 2 * torch.dot(x, x)
    >>> y
    tensor(28., grad_fn=<MulBackward0>)
    >>> y.backward()
    >>> x.grad
    tensor([ 0.,  4.,  8., 12.])

Modules, one job each:

- ``mode``: grad mode (``no_grad``, ...) and the forward-mode tangent table;
- ``tensor``: the Tensor class and ``apply`` (run a primitive, record a node);
- ``primitives``: the table of primitives, each with its forward, VJP and JVP rules;
- ``functions``: the public operations, the composites, Tensor's operators and methods;
- ``engine``: ``backward`` and ``grad`` (iterative reverse accumulation);
- ``functional``: ``jvp`` (forward accumulation), ``vjp``, ``jacobian``, ``hessian``;
- ``creation``: ``tensor``, ``arange``, ``zeros``, ``randn``, ... and seeding;
- ``printing``: PyTorch's tensor formatting.

Conventions: float64 is the default dtype; only floating tensors can require gradients;
graphs are never freed by a backward pass (so ``retain_graph`` is always in effect); grad
mode is process-wide; subgradients use sign(0) = 0, so abs'(0) = relu'(0) = 0; ``logdet``
raises LinAlgError unless det > 0.  Compilers: ``PRIMITIVES[name]`` holds ``fwd``, ``vjps``
and ``jvps``; ``call(name, *args)`` applies one to tensors.
"""

from matcalc.autograd.mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from matcalc.autograd.tensor import Tensor, as_tensor
from matcalc.autograd.primitives import PRIMITIVES, Primitive
from matcalc.autograd.functions import (abs, add, all, allclose, any, broadcast_to, call, cos,
                                        det, diag, div, divide, dot, equal, exp, flatten, inv,
                                        kron, log, logdet, matmul, mean, mul, multiply, neg,
                                        norm, outer, permute, pow, relu, reshape, sigmoid,
                                        sign, sin, sqrt, squeeze, sub, subtract, sum, tan,
                                        tanh, trace, transpose, unsqueeze)
from matcalc.autograd.engine import backward, grad
from matcalc.autograd.functional import hessian, jacobian, jvp, vjp
from matcalc.autograd.creation import (Generator, arange, bool_, default_generator, eye,
                                       float32, float64, full, int32, int64, manual_seed,
                                       ones, ones_like, rand, randn, tensor, zeros, zeros_like)
from matcalc.autograd.printing import get_printoptions, set_printoptions

inverse = inv
bool = bool_  # noqa: A001  (torch.bool; the builtin is untouched outside this namespace)

__all__ = [
    "Tensor", "tensor", "as_tensor", "arange", "zeros", "ones", "full", "eye", "zeros_like",
    "ones_like", "randn", "rand", "Generator", "manual_seed", "default_generator",
    "float32", "float64", "int32", "int64", "bool",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "pow", "neg", "matmul",
    "dot", "outer", "kron", "sum", "mean", "norm", "exp", "log", "sin", "cos", "tan", "tanh",
    "sqrt", "abs", "sign", "relu", "sigmoid", "inv", "inverse", "det", "logdet", "trace",
    "diag", "reshape", "transpose", "permute", "broadcast_to", "flatten", "squeeze",
    "unsqueeze", "all", "any", "equal", "allclose",
    "backward", "grad", "jvp", "vjp", "jacobian", "hessian",
    "PRIMITIVES", "Primitive", "call", "set_printoptions", "get_printoptions",
]
