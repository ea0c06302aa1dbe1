"""Read one rules file: YAML through ``yaml.safe_load``, with the line of every record.

The data comes from ``yaml.safe_load`` (nothing in a rules file is ever executed); line
numbers come from ``yaml.compose`` on the same text, so errors can say
``rules/language/20-matrix.yaml:42 rule 'tr': field 'signature': ...``.
"""

from __future__ import annotations

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
        mark = getattr(exc, "problem_mark", None)
        where = f"{shown}:{mark.line + 1}" if mark else shown
        raise RuleFileError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
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
                    raise rec.error(f"unknown key '{key}'; allowed: {', '.join(sorted(allowed))}")
            records.append(rec)
    return records
