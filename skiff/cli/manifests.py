"""Load manifests for ``apply``/``create``/``delete -f``: files, directories (``-R``), stdin.

Every document of every source is parsed before anything is sent, so a file that fails
to parse applies nothing; the error names the file, the document number (1-based, as
separated by ``---``) and the line in the file. ``List`` kinds (``v1 List``,
``PodList``…) expand into their items. Reading files is the only I/O here.
"""
from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

EXTENSIONS = (".json", ".yaml", ".yml")


class ManifestError(Exception):
    """A manifest that cannot be used; ``str()`` is the message skiffctl prints after ``error: ``."""


@dataclass(frozen=True)
class Manifest:
    source: str  # file path or "STDIN"
    document: int  # 1-based document number within the source
    line: int  # 1-based line where the document starts
    obj: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.source} (document {self.document}, line {self.line})"


class _Loader(yaml.SafeLoader):
    """YAML 1.1 like go-yaml, but timestamps stay strings (as they do through sigs.k8s.io/yaml)."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _doc_starts(text: str) -> list[int]:
    """0-based line of each ``---`` separator (the first document starts at line 0)."""
    return [i for i, line in enumerate(text.splitlines()) if re.match(r"^---(\s|$)", line)]


def parse_documents(text: str, *, source: str) -> list[Manifest]:
    """Parse one stream (YAML with ``---`` separators, or JSON) into manifests, expanding Lists."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")) and not source.endswith((".yaml", ".yml")):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise ManifestError(f"error parsing {source}: document 1, line {e.lineno}: {e.msg}") from e
        docs: list[tuple[int, int, Any]] = [(1, 1, doc)]
    else:
        docs = _parse_yaml(text, source=source)
    out: list[Manifest] = []
    for number, line, doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise ManifestError(f"error parsing {source}: document {number}, line {line}: "
                                f"expected a mapping (an object), got {type(doc).__name__}")
        out.extend(_expand(doc, source=source, number=number, line=line))
    return out


def _parse_yaml(text: str, *, source: str) -> list[tuple[int, int, Any]]:
    separators = _doc_starts(text)
    docs: list[tuple[int, int, Any]] = []
    loader = _Loader(text)
    try:
        number = 0
        while loader.check_node():
            node = loader.get_node()
            number += 1
            start = node.start_mark.line if node is not None else 0
            # a document starts after the last separator above its first node
            before = [s for s in separators if s <= start]
            doc_line = (before[-1] + 2) if before else 1
            docs.append((number, doc_line, loader.construct_document(node)))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        failed = 1 + sum(1 for s in separators if mark is not None and s < mark.line) \
            if separators else 1
        # when the first document has no leading ---, separators count the boundaries between docs
        if separators and separators[0] == 0:
            failed -= 1
        problem = e.problem or e.context or "invalid YAML"
        raise ManifestError(f"error parsing {source}: document {max(failed, 1)}, line {line}: {problem}") from e
    except yaml.YAMLError as e:
        raise ManifestError(f"error parsing {source}: {e}") from e
    finally:
        loader.dispose()
    return docs


def _expand(doc: dict[str, Any], *, source: str, number: int, line: int) -> Iterable[Manifest]:
    kind = str(doc.get("kind") or "")
    if kind.endswith("List") and isinstance(doc.get("items"), list):
        for item in doc["items"]:
            if isinstance(item, dict):
                yield from _expand(item, source=source, number=number, line=line)
        return
    yield Manifest(source, number, line, doc)


def validate_basic(m: Manifest) -> None:
    """kubectl's client-side check: apiVersion and kind must be set."""
    missing = [f"{f} not set" for f in ("apiVersion", "kind") if not m.obj.get(f)]
    if missing:
        data = missing[0] if len(missing) == 1 else f"[{', '.join(missing)}]"
        raise ManifestError(f'error validating "{m.source}": error validating data: {data}; '
                            "if you choose to ignore these errors, turn validation off with --validate=false")


def expand_paths(filenames: list[str], *, recursive: bool = False) -> list[str]:
    """``-f`` arguments to a list of sources: files as given, directories' manifest files sorted."""
    out: list[str] = []
    for name in filenames:
        if name == "-":
            out.append("-")
            continue
        p = Path(name)
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            out.extend(str(f) for f in sorted(p.glob(pattern)) if f.is_file() and f.suffix in EXTENSIONS)
        elif p.exists():
            out.append(name)
        else:
            raise ManifestError(f'the path "{name}" does not exist')
    return out


def load(filenames: list[str], *, recursive: bool = False, stdin: IO[str] | None = None) -> list[Manifest]:
    """Parse every source fully (raising on the first bad one) before returning any manifest."""
    out: list[Manifest] = []
    for source in expand_paths(filenames, recursive=recursive):
        if source == "-":
            text = (stdin or sys.stdin).read()
            out.extend(parse_documents(text, source="STDIN"))
        else:
            try:
                text = Path(source).read_text()
            except OSError as e:
                raise ManifestError(f"error reading {source}: {e.strerror}") from e
            except UnicodeDecodeError as e:
                raise ManifestError(f"error reading {source}: not UTF-8 text ({e.reason})") from e
            out.extend(parse_documents(text, source=source))
    return out
