"""The ``matcalc`` command line (one-shot commands; the REPL comes with the engine).

    matcalc parse "x'*A*x + b'*x" [--shape x=n] [--assume A=symmetric] [--json]

Exit codes: 0 an answer, 1 a user error (message on stderr, never a traceback), 2 usage.
"""

from __future__ import annotations

import argparse
import json
import sys

from matcalc.errors import MatcalcError

EXAMPLES = """examples:
  matcalc parse "x'*A*x + b'*x"
  matcalc parse "norm2(A*x - b)^2" --shape A=m,n
  matcalc parse "tr(S*X)" --assume S=symmetric --json
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):                       # usage errors exit 2, as argparse does
        self.print_usage(sys.stderr)
        self.exit(2, f"matcalc: error: {message}\n")


def _build() -> argparse.ArgumentParser:
    from matcalc import __version__
    top = _Parser(prog="matcalc", description="Matrix calculus you can read, checked by numbers.",
                  epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--version", action="version", version=f"matcalc {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("parse", help="parse an expression: its forms, shape and variables",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("expr", help="the expression, e.g. \"x'*A*x\"")
    p.add_argument("--shape", action="append", default=[], metavar="NAME=DIMS",
                   help="declare a shape: x=n, A=m,n, c= (scalar); repeatable")
    p.add_argument("--assume", action="append", default=[], metavar="NAME=PROP",
                   help="symmetric, diagonal or posdef; repeatable")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return top


def _declarations(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise MatcalcError(f"--{what} {item!r}: expected NAME=VALUE, e.g. "
                               f"{'x=n' if what == 'shape' else 'A=symmetric'}")
        out[name.strip()] = value.strip()
    return out


def _shapes(items: list[str]) -> dict[str, tuple]:
    shapes = {}
    for name, value in _declarations(items, "shape").items():
        dims = [d.strip() for d in value.split(",") if d.strip()]
        shapes[name] = tuple(int(d) if d.isdigit() else d for d in dims)
    return shapes


def _run_parse(args) -> int:
    from matcalc.parse import parse
    expr = parse(args.expr, shapes=_shapes(args.shape), assume=_declarations(args.assume,
                                                                            "assume"))
    variables = {name: v.shape_text for name, v in expr.variables().items()}
    if args.json:
        print(json.dumps({"input": args.expr, "expr": str(expr), "unicode": expr.unicode(),
                          "latex": expr.latex(), "shape": expr.shape_text,
                          "variables": variables}, ensure_ascii=False))
        return 0
    where = ", ".join(f"{n} is {s}" for n, s in variables.items()) or "no variables"
    print(expr.unicode())
    print(f"  shape:  {expr.shape_text}")
    print(f"  where:  {where}")
    print(f"  text:   {expr}")
    print(f"  latex:  {expr.latex()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _build()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return _run_parse(args)
    except MatcalcError as exc:
        print(f"matcalc: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
