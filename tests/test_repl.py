"""The REPL driven as a person drives it: through a pseudo-terminal (stdlib ``pty``).

One session declares, queries, makes mistakes, asks for an explanation, completes a command
with Tab, cancels a line with Ctrl-C and leaves with Ctrl-D; the history file keeps what was
typed.  Reads wait for expected text with a generous hang guard (no timing is asserted).
"""

from __future__ import annotations

import codecs
import os
import re
import select
import signal
import sys
import time

import pytest

pty = pytest.importorskip("pty")
pytest.importorskip("readline")

HANG_GUARD = 60.0                          # seconds: a stuck REPL fails instead of hanging
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|[\x01\x02]")


class Terminal:
    """matcalc at the far end of a pseudo-terminal."""

    def __init__(self, env: dict, args=()):
        pid, fd = pty.fork()
        if pid == 0:                                    # the child: become matcalc
            try:
                # as at a person's terminal: Ctrl-C interrupts.  A test run started in the
                # background (pytest ... &) ignores SIGINT, and an ignored signal stays
                # ignored across exec, so matcalc never saw the ^C (the reviews' two
                # failures of these tests in full runs)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.execve(sys.executable, [sys.executable, "-m", "matcalc", *args], env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.seen = ""                                  # everything read so far
        self.pos = 0                                    # where the next expect() starts

    def _read(self, deadline: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:                                 # the child has gone (EIO)
            return False
        if not data:
            return False
        self.seen += ANSI.sub("", self.decoder.decode(data)).replace("\r\n", "\n")
        return True

    def expect(self, text: str, within: float = HANG_GUARD, fail: bool = True) -> str | None:
        """Wait until ``text`` appears after the last match; the output up to it."""
        deadline = time.monotonic() + within
        while True:
            at = self.seen.find(text, self.pos)
            if at >= 0:
                chunk = self.seen[self.pos:at + len(text)]
                self.pos = at + len(text)
                return chunk
            if time.monotonic() > deadline or not self._read(deadline):
                if not fail:
                    return None
                raise AssertionError(f"never saw {text!r}; the screen after the last "
                                     f"match:\n{self.seen[self.pos:]}")

    def interrupt_line(self) -> None:
        """Ctrl-C at the prompt, then the next prompt.  CPython's readline can miss a SIGINT
        that lands between its signal check and its select(); a person presses Ctrl-C
        again, and so does this."""
        for _ in range(5):
            self.send("\x03")
            if self.expect("matcalc> ", within=5.0, fail=False) is not None:
                return
        self.expect("matcalc> ")

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode("utf-8"))

    def line(self, text: str) -> str:
        """Type a line, wait for the next prompt; the output in between."""
        self.send(text + "\n")
        out = self.expect("matcalc> ")
        return out

    def wait(self) -> int:
        deadline = time.monotonic() + HANG_GUARD
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            self._read(min(deadline, time.monotonic() + 0.2))
        os.kill(self.pid, 9)
        raise AssertionError("matcalc did not exit")


@pytest.fixture
def env(tmp_path):
    return dict(os.environ, PYTHONIOENCODING="utf-8", TERM="xterm", NO_COLOR="1",
                MATCALC_HISTORY=str(tmp_path / "history"),
                MATCALC_CACHE_DIR=str(tmp_path / "cache"), HOME=str(tmp_path),
                COLUMNS="200", LINES="50")


def test_a_session_at_the_terminal(env, tmp_path):
    term = Terminal(env)
    banner = term.expect("matcalc> ")
    assert ":help" in banner and "Ctrl-D" in banner

    out = term.line("x: vector(n)")
    assert "x: vector (n×1)" in out
    out = term.line("A: matrix(n, n) symmetric")
    assert "A: matrix (n×n), symmetric" in out

    out = term.line("d/dx x'*A*x")
    assert "2xᵀA" in out and "shape:  1×n" in out and "where:  x is n×1, A is n×n" in out

    out = term.line("d/dx x'*A*")                        # an error: message, caret, no trace
    assert "error: expected an operand after '*'" in out
    assert "at column 11" in out and "^" in out
    assert "Traceback" not in out

    out = term.line(":explian d/dx x'*x")               # a typo in a command
    assert "unknown command ':explian'; did you mean ':explain'?" in out

    out = term.line(":vars")                            # nothing was lost
    assert "x: vector (n×1)" in out and "A: matrix (n×n), symmetric" in out

    out = term.line(":explain d/dx x'*A*x")
    assert "rules that fired" in out
    assert re.search(r"rules/\S+\.yaml:\d+", out), out

    term.send("d/dx x'*A*x + sum(sigm\t")             # Tab completes a function name
    term.expect("sum(sigmoid")
    term.send("(x))\x01\x0b")                          # Ctrl-A Ctrl-K: line editing works
    term.send(":expl\t")                                # ... and Tab completes a command
    term.expect(":explain ")
    out = term.line("d/dx x'*x")
    assert "rules that fired" in out and "2xᵀ" in out

    term.send("d/dx this line is abandoned")           # Ctrl-C cancels the line
    term.expect("abandoned")
    term.interrupt_line()
    out = term.line("grad(x'*A*x, x)")
    assert "2Ax" in out and "abandoned" not in out

    term.send("\x04")                                   # Ctrl-D leaves, exit code 0
    assert term.wait() == 0
    history = (tmp_path / "history").read_text(encoding="utf-8")
    assert "d/dx x'*A*x" in history and "grad(x'*A*x, x)" in history
    assert "abandoned" not in history


def test_history_is_read_back_and_quit_leaves(env, tmp_path):
    (tmp_path / "history").write_text("d/dx x'*x\n", encoding="utf-8")
    term = Terminal(env)
    term.expect("matcalc> ")
    term.send("\x1b[A")                                 # Up: the last line of the history
    term.expect("d/dx x'*x")
    out = term.line("")
    assert "2xᵀ" in out
    term.send(":quit\n")
    assert term.wait() == 0


def test_colour_only_when_asked_for(env):
    env = {k: v for k, v in env.items() if k != "NO_COLOR"}
    term = Terminal(env)
    pid, fd = term.pid, term.fd
    raw = b""
    deadline = time.monotonic() + HANG_GUARD
    while b"matcalc>" not in raw and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            raw += os.read(fd, 65536)
    assert b"\x1b[" in raw                              # a terminal gets colour
    os.write(fd, b"\x04")
    term.seen = ""
    assert term.wait() == 0 and pid


def test_ctrl_c_interrupts_a_long_computation_and_the_session_goes_on(env):
    term = Terminal(env)
    term.expect("matcalc> ")
    term.line("x: vector(k)")
    slow = "hessian(sum(" + "sin(" * 300 + "x" + ")" * 300 + "), x)"    # minutes of work
    term.send(slow + "\n")
    term.expect(")), x)\n")                         # the line was taken; the work begins
    time.sleep(0.5)
    term.send("\x03")
    out = term.expect("matcalc> ")
    assert "error: interrupted" in out and "Traceback" not in out
    out = term.line("d/dx x'*x")
    assert "2xᵀ" in out and "shape:  1×k" in out     # the declaration survived
    term.send("\x04")
    assert term.wait() == 0


def test_history_lives_in_the_users_data_folder(monkeypatch, tmp_path):
    from matcalc.repl import history_path
    monkeypatch.delenv("MATCALC_HISTORY", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert history_path() == tmp_path / ".local" / "share" / "matcalc" / "history"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert history_path() == tmp_path / "data" / "matcalc" / "history"
    monkeypatch.setenv("MATCALC_HISTORY", str(tmp_path / "h"))
    assert history_path() == tmp_path / "h"
