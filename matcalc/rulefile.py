"""Read one rules file: YAML through ``yaml.safe_load``, with the line of every record.

The data comes from ``yaml.safe_load`` (nothing in a rules file is ever executed); line
numbers come from ``yaml.compose`` on the same text, so errors can say
``rules/language/20-matrix.yaml:42 rule 'tr': field 'signature': ...``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from matcalc.errors import RuleFileError


@dataclass(frozen=True)
class Record:
    """One rule record: its section, fields, and where it was written."""

    section: str
    fields: dict
    path: str
    line: int

    @property
    def name(self) -> str:
        return str(self.fields.get("name", "?"))

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def error(self, message: str, field: str | None = None) -> RuleFileError:
        """A RuleFileError that names the file, line, rule and field."""
        at = f" field '{field}':" if field else ""
        return RuleFileError(f"{self.where} rule '{self.name}':{at} {message}")


def display_path(path: Path) -> str:
    """A short path for messages: relative to the rules library or the working folder."""
    from matcalc.resources import data_dir
    path = path.resolve()
    for base in (data_dir("rules").parent, Path.cwd()):
        try:
            return str(path.relative_to(base))
        except ValueError:
            continue
    return str(path)


def read_records(path: Path, sections: dict[str, tuple[set[str], set[str]]]) -> list[Record]:
    """Every record of ``path``; ``sections`` maps a section to (required, allowed) keys."""
    import yaml

    shown = display_path(Path(path))
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleFileError(f"{shown}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        line = exc.object[:exc.start].count(b"\n") + 1
        raise RuleFileError(f"{shown}:{line}: not UTF-8 text (byte {exc.object[exc.start]:#04x})"
                            ) from None
    try:
        data = yaml.safe_load(text)
        tree = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise RuleFileError(_yaml_message(shown, text, exc)) from None
    if data is None:
        return []
    if not isinstance(data, dict):
        raise RuleFileError(f"{shown}:1: a rules file is a mapping of sections "
                            f"({', '.join(sections)}), got {type(data).__name__}")
    keys = {k.value: k for k, _ in tree.value}
    lines = {k.value: v for k, v in tree.value}
    records: list[Record] = []
    for section, items in data.items():
        if section not in sections:
            line = keys[section].start_mark.line + 1 if section in keys else 1
            raise RuleFileError(f"{shown}:{line}: unknown section {section!r}; "
                                f"expected one of: {', '.join(sections)}")
        if not isinstance(items, list):
            raise RuleFileError(f"{shown}:{lines[section].start_mark.line + 1}: section "
                                f"{section!r} must be a list of records")
        required, allowed = sections[section]
        for item, node in zip(items, lines[section].value):
            rec = Record(section, item if isinstance(item, dict) else {}, shown,
                         node.start_mark.line + 1)
            if not isinstance(item, dict):
                raise rec.error(f"a record is a mapping of keys, got {item!r}")
            for key in required:
                if key not in item:
                    raise rec.error(f"missing required key '{key}'")
            for key in item:
                if key not in allowed:
                    close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    raise rec.error(f"unknown key '{key}'{hint}; allowed: "
                                    f"{', '.join(sorted(allowed))}")
            records.append(rec)
    return records


# what usually causes each of PyYAML's complaints, in a rules file
_YAML_HINTS = (
    ("found '<scalar>'", "text after a quoted value, or a quote left open above"),
    ("<block end>", "check the indentation: every key of a record starts in the column "
                    "of its 'name'"),
    ("mapping values are not allowed", "a value that contains ': ' must be quoted"),
    ("'\\t'", "indent with spaces: YAML does not allow tabs"),
)


def _yaml_message(shown: str, text: str, exc) -> str:
    """``FILE:LINE: not valid YAML: ...`` with the column, a caret and a likely cause."""
    problem = getattr(exc, "problem", None) or str(exc)
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return f"{shown}: not valid YAML: {problem}"
    hint = next((h for key, h in _YAML_HINTS if key in problem), None)
    lines = text.split("\n")
    source = lines[mark.line] if mark.line < len(lines) else ""
    return (f"{shown}:{mark.line + 1}: not valid YAML: {problem}" + (f" ({hint})" if hint else "")
            + f"\n  at line {mark.line + 1}, column {mark.column + 1}:\n    "
            + source.replace("\t", " ") + "\n    " + " " * mark.column + "^")
