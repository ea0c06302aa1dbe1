"""The computation graph of an expression as Graphviz DOT text (the seed's figure).

Each distinct node of the DAG is drawn once, so a shared subexpression has several arrows
out of it; arrows run from operands to the operation that uses them (the forward pass),
numbered where the order of operands matters.  Variables show their shape, operations
their name and shape.

>>> print(to_dot("x'*x"), end="")
digraph matcalc {
  rankdir=BT;
  node [fontname="Helvetica", fontsize=12];
  n0 [label="x\\nn×1", shape=ellipse, style=filled, fillcolor="#dbe9f6"];
  n1 [label="transpose\\n1×n", shape=box];
  n2 [label="mul\\nscalar", shape=box];
  n0 -> n1;
  n1 -> n2 [label="1"];
  n0 -> n2 [label="2"];
}
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from matcalc import expr as E
from matcalc.errors import MatcalcError
from matcalc.printing import format_number


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _label(node: E.Expr) -> str:
    if node.op == "var":
        return f"{node.value}\n{node.shape_text}"
    if node.op == "const":
        return format_number(node.value)
    if node.value is not None:                       # eye(3), vector(1)
        params = node.value if isinstance(node.value, tuple) else (node.value,)
        shown = ", ".join(format_number(p) if isinstance(p, float) else str(p) for p in params)
        return f"{node.op}({shown})\n{node.shape_text}"
    return f"{node.op}\n{node.shape_text}"


def to_dot(expr, shapes=None, assume=None) -> str:
    """Graphviz DOT text for the DAG of ``expr`` (text or Expr)."""
    if isinstance(expr, str):
        from matcalc.parse import parse
        expr = parse(expr, shapes, assume)
    if not isinstance(expr, E.Expr):
        raise MatcalcError(f"expected an expression (text or Expr), got {type(expr).__name__}")
    order = expr.walk()
    ids = {id(node): f"n{i}" for i, node in enumerate(order)}
    lines = ["digraph matcalc {", "  rankdir=BT;",
             '  node [fontname="Helvetica", fontsize=12];']
    for node in order:
        style = ""
        if node.op == "var":
            style = ', shape=ellipse, style=filled, fillcolor="#dbe9f6"'
        elif node.op == "const":
            style = ", shape=plaintext"
        else:
            style = ", shape=box"
        lines.append(f"  {ids[id(node)]} [label={_quote(_label(node))}{style}];")
    for node in order:
        many = len(node.args) > 1
        for i, arg in enumerate(node.args, 1):
            extra = f' [label="{i}"]' if many else ""
            lines.append(f"  {ids[id(arg)]} -> {ids[id(node)]}{extra};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot_text: str, path: Path) -> Path | None:
    """Render DOT text to ``path`` (.svg, .png or .pdf) with Graphviz's ``dot``.

    None when ``dot`` is not installed; a MatcalcError when it fails.
    """
    program = shutil.which("dot")
    if program is None:
        return None
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "svg"
    if fmt not in ("svg", "png", "pdf"):
        raise MatcalcError(f"{path}: the picture can be .svg, .png or .pdf, not .{fmt}")
    try:
        r = subprocess.run([program, f"-T{fmt}", "-o", str(path)], input=dot_text,
                           text=True, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MatcalcError(f"could not run {program}: {exc}") from None
    if r.returncode != 0:
        raise MatcalcError(f"dot failed: {r.stderr.strip() or f'exit code {r.returncode}'}")
    return path
