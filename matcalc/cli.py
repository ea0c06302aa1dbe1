"""The ``matcalc`` command line: the REPL, ``-c QUERY``, and one-shot commands.

    matcalc                                   the REPL (a script when stdin is not a terminal)
    matcalc -c "d/dx x'*A*x"                  one line of the REPL's query language
    matcalc "d/dx x'*A*x"                     the same (one argument that is not a command)
    matcalc diff "x'*A*x" --wrt x [--shape x=n] [--assume A=symmetric]
                 [--json | --latex | --numpy] [--explain] [--check] [--rules FILE]
    matcalc grad ... | matcalc hessian ... | matcalc parse EXPR | matcalc check-rules [FILES]

Exit codes: 0 an answer, 1 a user error (message on stderr, never a traceback), 2 usage.
A symbolic query never imports NumPy (only --check, --numpy and check-rules do), and the
compiled rules come from the disk cache (matcalc/cache.py): that is what makes it start fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from matcalc.errors import MatcalcError

EXAMPLES = """examples:
  matcalc                                          (the REPL; :help inside)
  matcalc -c "d/dx x'*A*x"
  matcalc "d/dx x'*A*x"                            (one query: the same as -c)
  matcalc -c "A: matrix(n,n) symmetric; grad(x'*A*x, x)"
  matcalc < queries.txt                            (one query per line)
  matcalc diff "x'*A*x" --wrt x
  matcalc diff "x'*A*x" --wrt x --check
  matcalc grad "norm2(A*x - b)^2" --wrt x --json
  matcalc diff "log(det(X))" --wrt X --explain
  matcalc hessian "sum(log(vector(1) + exp(-y.*(X*w))))" --wrt w
  matcalc check-rules my_rules.yaml
  matcalc parse "x'*A*x + b'*x"
  matcalc parse "norm2(A*x - b)^2" --shape A=m,n
  matcalc parse "tr(S*X)" --assume S=symmetric --json
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):                       # usage errors exit 2, as argparse does
        self.print_usage(sys.stderr)
        self.exit(2, f"matcalc: error: {message}\n")


COMMANDS = ("parse", "diff", "grad", "hessian", "check-rules")


def _build(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; ``only`` builds just that command's subparser (each costs a millisecond
    of a one-shot start), "" none of them (``-c QUERY``)."""
    from matcalc import __version__
    top = _Parser(prog="matcalc", description="Matrix calculus you can read, checked by numbers.",
                  epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--version", action="version", version=f"matcalc {__version__}")
    top.add_argument("-c", dest="query", metavar="QUERY",
                     help="answer QUERY as the REPL would (';' separates several) and exit")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    if only in (None, "parse"):
        p = sub.add_parser("parse", help="parse an expression: its forms, shape and variables",
                           epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("expr", help="the expression, e.g. \"x'*A*x\"")
        p.add_argument("--shape", action="append", default=[], metavar="NAME=DIMS",
                       help="declare a shape: x=n, A=m,n, c= (scalar); repeatable")
        p.add_argument("--assume", action="append", default=[], metavar="NAME=PROP",
                       help="symmetric, diagonal or posdef; repeatable")
        p.add_argument("--rules", action="append", default=[], metavar="FILE",
                       help="load a rules file of your own (its functions); repeatable")
        p.add_argument("--json", action="store_true", help="print one JSON object")
    for name, what in (("diff", "the derivative in numerator layout"),
                       ("grad", "the gradient of a scalar, shaped like the variable"),
                       ("hessian", "the Hessian (derivative of the transposed gradient)")):
        if only not in (None, name):
            continue
        q = sub.add_parser(name, help=what, epilog=EXAMPLES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        q.add_argument("expr", help="the expression, e.g. \"x'*A*x\"")
        q.add_argument("--wrt", metavar="NAME",
                       help="the variable (may be left out when there is only one)")
        q.add_argument("--shape", action="append", default=[], metavar="NAME=DIMS",
                       help="declare a shape: x=n, A=m,n, c= (scalar); repeatable")
        q.add_argument("--assume", action="append", default=[], metavar="NAME=PROP",
                       help="symmetric, diagonal or posdef; repeatable")
        q.add_argument("--rules", action="append", default=[], metavar="FILE",
                       help="load a rules file of your own; repeatable")
        form = q.add_mutually_exclusive_group()
        form.add_argument("--json", action="store_true", help="print one JSON object")
        form.add_argument("--latex", action="store_true", help="print the LaTeX form only")
        form.add_argument("--numpy", action="store_true",
                          help="print NumPy code computing the answer")
        q.add_argument("--explain", action="store_true", help="list the rules that fired")
        q.add_argument("--check", action="store_true",
                       help="check the answer with numbers (backprop and central differences "
                            "at random sizes 2..6); exit 1 if it disagrees")
    if only in (None, "check-rules"):
        c = sub.add_parser("check-rules", help="prove rules numerically (all built-in rules, "
                           "or the rules of the given files)")
        c.add_argument("files", nargs="*", metavar="FILE",
                       help="a rules file of your own, e.g. examples/user_rules.yaml")
        c.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
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
    import matcalc
    from matcalc.parse import parse
    language = matcalc.load_rules(*args.rules).language if args.rules else None
    expr = parse(args.expr, shapes=_shapes(args.shape), assume=_declarations(args.assume,
                                                                            "assume"),
                 language=language)
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


def _expression_last(argv: list[str]) -> list[str]:
    """``matcalc parse "-x'*A*x"``: an expression that starts with '-' is not an option."""
    if not argv or argv[0] not in ("parse", "diff", "grad", "hessian") or "--" in argv:
        return argv
    for i, tok in enumerate(argv[1:], 1):
        if len(tok) > 1 and tok[0] == "-" and tok[1] != "-" and tok != "-h" \
                and argv[i - 1] not in ("--shape", "--assume", "--wrt", "--rules"):
            return argv[:i] + argv[i + 1:] + ["--", tok]
    return argv


def _run_derivative(args) -> int:
    import matcalc
    from matcalc.diff import derive, derive_hessian, rules_fired, unfinished_notes
    from matcalc.parse import parse
    from matcalc.printing import where_line
    from matcalc.rules import builtin_rules
    rules = matcalc.load_rules(*args.rules) if args.rules else builtin_rules()
    shapes = _shapes(args.shape)
    assume = _declarations(args.assume, "assume")
    if args.wrt is not None and not args.wrt.strip().isidentifier():
        raise MatcalcError(f"--wrt {args.wrt!r}: expected the name of a variable, e.g. --wrt x")
    f = parse(args.expr, shapes, assume, language=rules.language)
    if args.wrt is None:
        from matcalc.printing import brief, brief_names
        names = list(f.variables())
        if len(names) != 1:
            raise MatcalcError(f"{brief(f)} has the variables {brief_names(names)}: say which "
                               f"one to differentiate by, e.g. --wrt {names[0]}" if names else
                               f"{brief(f)} has no variable to differentiate by")
        args.wrt = names[0]
    if args.command == "hessian":
        d = derive_hessian(f, args.wrt, rules=rules)
    else:
        d = derive(f, args.wrt, rules=rules)
    answer, steps = d.result, list(d.steps)     # (the gradient's transpose is not a step)
    if args.command == "grad":
        answer = d.gradient(rules)
    check = None
    if args.check:
        from matcalc.equivalence import check_derivative
        check = check_derivative(f, args.wrt, answer, args.command, rules.language)
    if args.json:
        out = {"input": args.expr, "wrt": args.wrt, "derivative": str(answer),
               "shape": answer.shape_text, "unicode": answer.unicode(),
               "latex": answer.latex(), "unfinished": d.unfinished,
               "steps": [{"rule": s.rule, "where": s.where, "before": str(s.before),
                          "after": str(s.after), "note": s.note, "marker": s.marker}
                         for s in steps]}
        if check is not None:
            out["check"] = {"ok": check.ok, "points": check.trials,
                            "backprop": {"max_abs": check.bp_abs, "max_rel": check.bp_rel},
                            "central_differences": {"max_abs": check.fd_abs,
                                                    "max_rel": check.fd_rel}}
        print(json.dumps(out, ensure_ascii=False))
    elif args.latex:
        print(answer.latex())
    elif args.numpy:
        from matcalc.commands import numpy_code
        print(numpy_code(answer, rules), end="")
    else:
        print(answer.unicode())
        print(f"  shape:  {answer.shape_text}")
        print(f"  where:  {where_line(answer, f)}")
        print(f"  text:   {answer}")
        for line in unfinished_notes(d) + (rules_fired(steps) if args.explain else []):
            print(line)
    if check is not None and not args.json:
        print("\n".join(check.lines()), file=sys.stdout if check.ok else sys.stderr)
    return 0 if check is None or check.ok else 1


def _run_check_rules(args) -> int:
    import matcalc
    from matcalc.checking import check_rules
    from matcalc.rules import builtin_rules
    rules = matcalc.load_rules(*args.files) if args.files else builtin_rules()
    count, failures = check_rules(rules, set(args.files) if args.files else None, args.seed)
    for failure in failures:
        print(failure)
    print(f"{count} rules checked against backprop and central differences: "
          f"{count - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    """The command line; 141 (as for SIGPIPE) when the reader of the output goes away
    (``matcalc ... | head``), without a word."""
    try:
        return _main(argv)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)     # Python's own flush at exit would
        os.dup2(devnull, sys.stdout.fileno())          # fail again on the closed pipe
        return 141


def _is_query(arg: str) -> bool:
    """Whether the only argument is a query rather than a command: a bare word is taken
    for a mistyped command (``matcalc dif`` stays a usage error listing the commands)."""
    return arg not in COMMANDS and not arg.startswith("-") and not arg.strip().isidentifier()


def _main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:                                   # the REPL (or a script on stdin)
        from matcalc import repl
        try:
            return repl.main()
        except KeyboardInterrupt:
            return 130
    if len(argv) == 1 and _is_query(argv[0]):     # matcalc "d/dx x'*A*x": as -c would
        if os.path.isfile(argv[0]):
            print(f"matcalc: {argv[0]} is a file: to answer its queries line by line, write "
                  f"matcalc < {argv[0]}", file=sys.stderr)
            return 2
        argv = ["-c", argv[0]]
    only = argv[0] if argv[0] in COMMANDS else None
    if argv[0] == "-c" and len(argv) == 2:
        only = ""
    parser = _build(only)
    args = parser.parse_args(_expression_last(argv))
    if args.query is not None:
        if args.command is not None:
            parser.error("-c QUERY and a command do not go together")
        from matcalc import repl
        lines = repl.split_commands(args.query)
        try:
            return repl.run_lines(lines, numbered=len(lines) > 1)
        except KeyboardInterrupt:
            return 130
    if args.command is None:
        parser.print_help()
        return 2
    run = {"parse": _run_parse, "check-rules": _run_check_rules}.get(args.command,
                                                                     _run_derivative)
    try:
        return run(args)
    except MatcalcError as exc:
        from matcalc.errors import UnknownFunctionError
        message = str(exc)
        if isinstance(exc, UnknownFunctionError) and not getattr(args, "rules", True):
            head, sep, rest = message.partition("\n")
            message = f"{head} (functions of your own come from --rules FILE){sep}{rest}"
        print(f"matcalc: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise                                       # the reader went away: main says nothing
    except Exception as exc:                        # a bug: say so, without a traceback
        from matcalc.repl import _message
        print(f"matcalc: {_message(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
