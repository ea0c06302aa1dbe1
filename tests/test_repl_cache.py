"""The disk cache of grammar and rules (matcalc/cache.py): used, invalidated, never trusted blindly.

Each test runs matcalc in a subprocess with MATCALC_CACHE_DIR pointing at a fresh folder, so
the process starts with nothing in memory, as a user's shell does.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

RULES = """\
functions:
  - name: softplus
    signature: elementwise
    definition: "log(1 + exp(u))"
elementwise:
  - name: softplus
    function: softplus
    derivative: "{derivative}"
"""


def run(folder, *args, cwd=None):
    env = dict(os.environ, PYTHONIOENCODING="utf-8", MATCALC_CACHE_DIR=str(folder))
    return subprocess.run([sys.executable, "-m", "matcalc", *args], capture_output=True,
                          text=True, encoding="utf-8", env=env, cwd=cwd, timeout=120)


def entries(folder):
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".tmp-"))


def test_the_first_run_fills_the_cache_and_the_next_one_uses_it(tmp_path):
    cache = tmp_path / "cache"
    first = run(cache, "diff", "x'*A*x", "--wrt", "x")
    assert first.returncode == 0, first.stderr
    names = entries(cache)
    assert any(n.startswith("builtin-rules-") for n in names)
    assert any(n.startswith("grammar-") for n in names)
    second = run(cache, "diff", "x'*A*x", "--wrt", "x")
    assert second.stdout == first.stdout and second.returncode == 0
    assert entries(cache) == names                  # nothing rebuilt, nothing added


def test_a_corrupt_entry_is_rebuilt_silently(tmp_path):
    cache = tmp_path / "cache"
    good = run(cache, "diff", "x'*A*x", "--wrt", "x")
    for path in cache.iterdir():
        path.write_bytes(b"matcalc-cache 1\nnot the key\n" if path.suffix == ".pickle"
                         else b"\x80garbage")
    again = run(cache, "diff", "x'*A*x", "--wrt", "x")
    assert again.returncode == 0 and again.stderr == ""
    assert again.stdout == good.stdout
    truncated = next(p for p in cache.iterdir() if p.suffix == ".pickle")
    truncated.write_bytes(truncated.read_bytes()[:200])     # half a file
    assert run(cache, "diff", "x'*A*x", "--wrt", "x").stdout == good.stdout


def test_an_unwritable_cache_folder_is_ignored(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    r = run(blocker / "cache", "diff", "x'*A*x", "--wrt", "x")
    assert r.returncode == 0 and r.stderr == "" and r.stdout.startswith("xᵀ(A + Aᵀ)")


def test_the_cache_can_be_turned_off(tmp_path):
    r = run("off", "diff", "x'*A*x", "--wrt", "x", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("xᵀ(A + Aᵀ)")
    assert not (tmp_path / "off").exists()


def test_editing_a_user_rules_file_invalidates_its_entry(tmp_path):
    cache = tmp_path / "cache"
    rules = tmp_path / "mine.yaml"
    rules.write_text(RULES.format(derivative="sigmoid(u)"))
    args = ("diff", "sum(softplus(x))", "--wrt", "x", "--rules", str(rules))
    r = run(cache, *args)
    assert r.returncode == 0, r.stderr
    assert "sigmoid(x)'" in r.stdout
    assert any(n.startswith("user-rules-") for n in entries(cache))
    rules.write_text(RULES.format(derivative="exp(u)/(1 + exp(u))"))
    r = run(cache, *args)
    assert r.returncode == 0, r.stderr
    assert "sigmoid" not in r.stdout and "exp(x)" in r.stdout
    assert len([n for n in entries(cache) if n.startswith("user-rules-")]) == 1


def test_a_broken_user_rules_file_is_reported_not_cached(tmp_path):
    cache = tmp_path / "cache"
    rules = tmp_path / "bad.yaml"
    rules.write_text(RULES.format(derivative="sigmoid(v)"))
    r = run(cache, "diff", "x", "--wrt", "x", "--rules", str(rules))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "unbound" in r.stderr or "sigmoid(v)" in r.stderr or "v" in r.stderr
    assert not any(n.startswith("user-rules-") for n in entries(cache))


def test_the_key_covers_every_rules_file(monkeypatch, tmp_path):
    from matcalc import cache
    files = cache.builtin_files()
    assert any(p.suffix == ".lark" for p in files)
    assert {p.parent.name for p in files} >= {"language", "derivatives", "simplify"}
    copy = tmp_path / "r.yaml"
    copy.write_text("a: 1\n")
    before = cache.key([copy])
    stat = copy.stat()
    copy.write_text("a: 2\n")                       # same size, same time: still a new key
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert cache.key([copy]) != before


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0,
                    reason="needs to be able to chown")
def test_an_entry_owned_by_someone_else_is_not_loaded(tmp_path):
    cache = tmp_path / "cache"
    run(cache, "diff", "x'*A*x", "--wrt", "x")
    entry = next(p for p in cache.iterdir() if p.suffix == ".pickle")
    os.chown(entry, 12345, 12345)
    r = run(cache, "diff", "x'*A*x", "--wrt", "x")
    assert r.returncode == 0 and r.stdout.startswith("xᵀ(A + Aᵀ)")


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="file owners are a POSIX notion")
def test_an_entry_written_by_another_user_is_a_miss_in_process(tmp_path, monkeypatch):
    # the same check as above without root: pretend to be another user when reading
    from matcalc import cache
    monkeypatch.setenv("MATCALC_CACHE_DIR", str(tmp_path))
    source = tmp_path / "source.yaml"
    source.write_text("a: 1\n")
    cache._memo.clear()
    assert cache.cached("probe", [source], lambda: {"built": 1}) == {"built": 1}
    cache._memo.clear()
    assert cache.load("probe", [source]) == {"built": 1}            # this user: a hit
    cache._memo.clear()
    real = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: real + 1)
    assert cache.load("probe", [source]) is None                     # someone else's: a miss
