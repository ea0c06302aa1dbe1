"""A disk cache of the parsed grammar and the compiled rules, so a one-shot query starts fast.

Reading and validating the rules library takes about a third of a second (YAML parsing,
every pattern parsed and typed); unpickling the result takes a millisecond or two.  So the
compiled :class:`~matcalc.rules.RuleSet` (built-in, or built-in plus a user's ``--rules``
files) and Lark's LALR tables are kept in files:

- where: ``$MATCALC_CACHE_DIR``, else ``$XDG_CACHE_HOME/matcalc``, else ``~/.cache/matcalc``;
  ``MATCALC_CACHE_DIR=off`` turns the cache off;
- key: the matcalc version, the Python version, the path, size and modification time (in
  nanoseconds) of matcalc's own modules (the code that builds and defines what is pickled),
  the path and SHA-256 of the content of every grammar and rules file that went in (a user's
  rule files included), and the working folder, which messages name user files relative to.
  Editing any of them makes a new key, so a stale entry is never used; the older entry of
  the same name is deleted.  The full key is stored in the entry and compared; the file name
  carries a CRC of it;
- trust: an entry is read only from a file in that folder that this user owns, starts with
  our header and the full key, and was written by this module (to a temporary file, then
  renamed into place, so a reader never sees half a file).  It is loaded with ``pickle``,
  i.e. with the same trust as matcalc's own source: do not point ``MATCALC_CACHE_DIR`` at a
  folder other people can write to.  The Lark tables are Lark's own cache format, written
  by Lark to a temporary name and renamed the same way;
- failure: a missing, corrupt, foreign or unreadable entry is rebuilt; an unwritable folder
  is ignored.  The cache never changes an answer, only how fast it comes.
"""

from __future__ import annotations

import os
import pickle
import sys
import zlib
from pathlib import Path

MAGIC = b"matcalc-cache 2\n"
_PACKAGE = Path(__file__).resolve().parent
_memo: dict[tuple, object] = {}          # (name, key) -> the object, once loaded or built


def cache_dir() -> Path | None:
    """The cache folder, or None when the cache is off."""
    env = os.environ.get("MATCALC_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0", "no") else Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "matcalc"


_own: list[str] = []                     # matcalc's own modules, stamped once per process


def _stamp(path: str) -> str:
    st = os.stat(path)
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def _content(path: str) -> str:
    import hashlib                           # (already loaded: Lark imports it)
    with open(path, "rb") as f:
        return f"{path}:{hashlib.sha256(f.read()).hexdigest()}"


def key(paths, extra: str = "") -> str:
    """The cache key for an object built from ``paths`` (raises OSError if one is missing)."""
    from matcalc import __version__
    if not _own:
        _own.append("\n".join(_stamp(str(p)) for p in sorted(_PACKAGE.glob("*.py"))))
    parts = [f"matcalc {__version__}", f"python {sys.version_info[:2]}", f"extra {extra}",
             _own[0]]
    parts += [_content(os.path.abspath(p)) for p in paths]
    return "\n".join(parts)


def _short(k: str) -> str:
    return f"{zlib.crc32(k.encode()):08x}{len(k):x}"


def builtin_files() -> list[Path]:
    """Every file the built-in grammar, language and rules are made from."""
    from matcalc.resources import grammar_path, rules_dir
    return [grammar_path(), *sorted(rules_dir().rglob("*.yaml"))]


def _entry(folder: Path, name: str, k: str) -> Path:
    return folder / f"{name}-{_short(k)}.pickle"


def _place(paths, extra: str):
    """(cache folder, key) for an entry built from ``paths``, or None when there is no cache
    or a file cannot be read."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        return folder, key(paths, extra)
    except OSError:
        return None


def load(name: str, paths, extra: str = ""):
    """The cached object for ``name`` built from ``paths``, or None (a miss)."""
    place = _place(paths, extra)
    if place is None:
        return None
    folder, k = place
    if (name, k) in _memo:
        return _memo[(name, k)]
    path = _entry(folder, name, k)
    try:
        with open(path, "rb") as f:
            if hasattr(os, "getuid") and os.fstat(f.fileno()).st_uid != os.getuid():
                return None                            # not written by this user
            if f.read(len(MAGIC)) != MAGIC:
                return None
            size = int(f.readline())
            if f.read(size) != k.encode():
                return None
            obj = pickle.load(f)
    except Exception:                                  # missing, truncated, corrupt: rebuild
        return None
    _memo[(name, k)] = obj
    return obj


def cached(name: str, paths, build, extra: str = ""):
    """``build()``, or its result from an earlier run when ``paths`` have not changed."""
    obj = load(name, paths, extra)
    if obj is not None:
        return obj
    obj = build()
    place = _place(paths, extra)
    if place is None:
        return obj
    folder, k = place
    _memo[(name, k)] = obj
    _store(folder, name, k, obj)
    return obj


def _store(folder: Path, name: str, k: str, obj) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        head = k.encode()
        _write_atomically(folder, _entry(folder, name, k),
                          MAGIC + b"%d\n" % len(head) + head + data)
        for old in folder.glob(f"{name}-*.pickle"):        # the entries this one replaces
            if old.name != _entry(folder, name, k).name:
                old.unlink(missing_ok=True)
    except Exception:                                   # unwritable, full, unpicklable: skip
        pass


def _write_atomically(folder: Path, path: Path, data: bytes) -> None:
    import tempfile
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def lark_parser(grammar: str, **options):
    """``Lark(grammar, **options)`` using Lark's own cache in our folder when it can."""
    from lark import Lark
    folder = cache_dir()
    if folder is None:
        return Lark(grammar, **options)
    final = folder / f"grammar-{_short(grammar)}.lark-cache"
    try:
        if final.is_file() and (not hasattr(os, "getuid") or final.stat().st_uid == os.getuid()):
            return Lark(grammar, cache=str(final), **options)   # Lark checks its own hash
        import tempfile
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        os.close(fd)
        os.unlink(tmp)                   # Lark writes its cache only where none exists
    except OSError:
        return Lark(grammar, **options)
    try:
        parser = Lark(grammar, cache=tmp, **options)
        if os.path.exists(tmp):
            os.replace(tmp, final)
            for old in folder.glob("grammar-*.lark-cache"):
                if old != final:
                    old.unlink(missing_ok=True)
        return parser
    except OSError:
        return Lark(grammar, **options)
    finally:
        Path(tmp).unlink(missing_ok=True)
