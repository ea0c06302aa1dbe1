"""The terminal front of a :class:`~matcalc.session.Session`: ``matcalc`` with no arguments.

At a terminal: a prompt with line editing, persistent history (``$MATCALC_HISTORY``, else
``$XDG_DATA_HOME/matcalc/history``, else ``~/.local/share/matcalc/history``; written after
every line) and tab completion of commands, function names and declared names (readline
from the standard library, when Python has it).  An error is printed and the session goes
on with its declarations intact; Ctrl-C cancels the line (or a long computation), Ctrl-D
leaves.  Colour unless ``NO_COLOR`` is set or ``TERM=dumb``.

Not at a terminal (``matcalc < queries.txt``, or ``matcalc -c "QUERY"``): each line is
answered on stdout without prompt or colour; errors go to stderr as ``matcalc: line N: ...``
and the exit code is 1 if any line failed (130 if Ctrl-C stopped it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from matcalc.errors import MatcalcError
from matcalc.session import KINDS, PROPERTIES, QUERY_WORDS, Quit, Session

BANNER = "matcalc {version}: matrix calculus you can read.  :help for help, Ctrl-D to leave."


def _message(exc: BaseException) -> str:
    """An error's text, with ``at line 1, column C`` shortened to ``at column C``."""
    if isinstance(exc, MatcalcError):
        return str(exc).replace("  at line 1, column ", "  at column ")
    if isinstance(exc, RecursionError):
        return "the expression is nested too deeply for this step"
    if isinstance(exc, MemoryError):
        return "out of memory: the expression or its derivative is too large"
    return (f"internal error (a bug in matcalc; please report it with the line you typed): "
            f"{type(exc).__name__}: {exc}")


def _keep_interrupts() -> None:
    """Make Ctrl-C reliable during long computations.

    Python delivers KeyboardInterrupt wherever it next checks for signals; if that is inside
    a weakref callback (the expression table drops nodes all the time), the exception is
    printed as "Exception ignored in ..." and lost, and the work goes on.  This hook catches
    that case and raises KeyboardInterrupt again 20 ms later from a timer (SIGALRM), which
    lands in ordinary code.  (POSIX; elsewhere a second Ctrl-C does it.)
    """
    import signal
    previous = sys.unraisablehook
    if getattr(previous, "_matcalc", False) or not hasattr(signal, "setitimer"):
        return

    def again(signum, frame):
        raise KeyboardInterrupt

    def hook(info):
        if info.exc_type is not None and issubclass(info.exc_type, KeyboardInterrupt):
            signal.setitimer(signal.ITIMER_REAL, 0.02)
            return
        previous(info)

    hook._matcalc = True
    try:
        signal.signal(signal.SIGALRM, again)
    except ValueError:                          # not the main thread: leave things alone
        return
    sys.unraisablehook = hook


def _answer(session: Session, line: str):
    """(reply, error message); Quit and KeyboardInterrupt pass through."""
    try:
        return session.run(line), None
    except (Quit, KeyboardInterrupt):
        raise
    except Exception as exc:                           # never a traceback at the prompt
        if os.environ.get("MATCALC_DEBUG"):
            import traceback
            traceback.print_exc()
        return None, _message(exc)


# ---------------------------------------------------------------- scripts and -c

def run_lines(lines, session: Session | None = None, out=None, err=None,
              numbered: bool = True) -> int:
    """Answer each line; 0 if all succeeded, 1 if any failed.  Stops at :quit."""
    session = session or Session()
    out = out or sys.stdout
    err = err or sys.stderr
    _keep_interrupts()
    status = 0
    for number, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        try:
            reply, error = _answer(session, line)
        except Quit:
            break
        if error is not None:
            where = f"line {number}: " if numbered else ""
            print(f"matcalc: {where}{error}", file=err, flush=True)
            status = 1
            continue
        for text in reply.lines:
            print(text, file=out)
        out.flush()
    return status


def split_commands(text: str) -> list[str]:
    """``-c "n = 3; d/dx x'*x"``: lines, and ';' outside brackets, separate queries."""
    from matcalc.session import _split_top
    out = []
    for line in text.splitlines() or [""]:
        out.extend(piece.lstrip() for _, piece in _split_top(line, ";"))
    return out


# ---------------------------------------------------------------- the interactive loop

class _Style:
    def __init__(self, on: bool):
        self.on = on

    def __call__(self, code: str, text: str, prompt: bool = False) -> str:
        if not self.on:
            return text
        start, end = f"\033[{code}m", "\033[0m"
        if prompt:                         # tell readline these take no room on screen
            start, end = f"\001{start}\002", f"\001{end}\002"
        return f"{start}{text}{end}"


def _use_colour(stream) -> bool:
    return (stream.isatty() and "NO_COLOR" not in os.environ
            and os.environ.get("TERM", "") != "dumb")


def history_path() -> Path:
    env = os.environ.get("MATCALC_HISTORY")
    if env:
        return Path(env)
    data = os.environ.get("XDG_DATA_HOME")
    return (Path(data) if data else Path.home() / ".local" / "share") / "matcalc" / "history"


class _Completer:
    """Tab completion: commands after ':', then names the session knows."""

    def __init__(self, session: Session, readline):
        self.session = session
        self.readline = readline
        self.matches: list[str] = []

    def candidates(self, text: str, line: str, begin: int) -> list[str]:
        from matcalc.commands import ALIASES, COMMANDS
        head = line[:begin]
        if not head.strip() and text.startswith(":"):
            return sorted(c + " " for c in list(COMMANDS) if c.startswith(text))
        first = head.split(None, 1)[0] if head.strip() else ""
        first = ALIASES.get(first, first)
        if first == ":layout":
            words = ["numerator", "denominator"]
        elif first == ":help":
            words = [c[1:] for c in COMMANDS]
        elif first == ":load":
            return self._files(text)
        elif ":" in head and not head.lstrip().startswith(":"):
            words = list(KINDS) + list(PROPERTIES)        # a declaration: x: vec<TAB>
        else:
            words = (self.session.function_names() + self.session.variable_names()
                     + list(QUERY_WORDS) + sorted(self.session.dims))
        return sorted({w for w in words if w.startswith(text)})

    @staticmethod
    def _files(text: str) -> list[str]:
        folder, _, stem = text.rpartition("/")
        base = Path(folder or ".")
        try:
            names = sorted(p.name + ("/" if p.is_dir() else "") for p in base.iterdir()
                           if p.name.startswith(stem) and (p.is_dir() or p.suffix in
                                                           (".yaml", ".yml")))
        except OSError:
            return []
        return [(folder + "/" if folder else "") + n for n in names]

    def __call__(self, text: str, state: int):
        if state == 0:
            try:
                line = self.readline.get_line_buffer()
                begin = self.readline.get_begidx()
                self.matches = self.candidates(text, line, begin)
            except Exception:                      # completion must never break the prompt
                self.matches = []
        return self.matches[state] if state < len(self.matches) else None


def _setup_readline(session: Session):
    try:
        import readline
    except ImportError:                            # Python built without it: plain input()
        return None, None
    path = history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
        readline.read_history_file(str(path))
    except OSError:
        path = None
    readline.set_history_length(10_000)
    readline.set_completer(_Completer(session, readline))
    readline.set_completer_delims(" \t\n()*+-/,'<>^.=[]⟨⟩‖;")
    if "libedit" in (readline.__doc__ or ""):
        readline.parse_and_bind("bind ^I rl_complete")
    else:
        readline.parse_and_bind("tab: complete")
    return readline, path


def _save_line(readline, path) -> None:
    if readline is None or path is None:
        return
    try:
        readline.append_history_file(1, str(path))
    except (OSError, AttributeError):
        pass


def interactive(session: Session | None = None) -> int:
    """The REPL at a terminal.  Returns the exit code (0)."""
    from matcalc import __version__
    session = session or Session()
    style = _Style(_use_colour(sys.stdout))
    err_style = _Style(_use_colour(sys.stderr))
    readline, path = _setup_readline(session)
    _keep_interrupts()
    print(style("2", BANNER.format(version=__version__)))
    prompt = style("1;36", "matcalc>", prompt=True) + " "
    try:
        while True:
            try:
                line = input(prompt)
            except KeyboardInterrupt:              # Ctrl-C: drop the line, keep going
                print()
                continue
            except EOFError:                       # Ctrl-D
                print()
                return 0
            if line.strip():
                _save_line(readline, path)
            try:
                reply, error = _answer(session, line)
            except Quit:
                return 0
            except KeyboardInterrupt:              # Ctrl-C during a long computation
                reply, error = None, "interrupted (the session is as it was)"
            if error is not None:
                print(err_style("31", f"error: {error}"), file=sys.stderr, flush=True)
                continue
            for i, text in enumerate(reply.lines):
                print(style("1", text) if reply.kind == "answer" and i == 0 else text)
            sys.stdout.flush()
    finally:
        if readline is not None and path is not None:
            try:
                readline.write_history_file(str(path))
            except OSError:
                pass


def main(session: Session | None = None) -> int:
    """``matcalc`` with no arguments: interactive at a terminal, else a script on stdin."""
    try:        # a byte that is not UTF-8 becomes a clear error on its line, not a traceback
        sys.stdin.reconfigure(errors="surrogateescape")
    except (AttributeError, ValueError):
        pass
    if sys.stdin.isatty():
        return interactive(session)
    return run_lines(sys.stdin, session)
