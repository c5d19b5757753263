"""Serialize objects as kubectl does for ``-o yaml`` and ``-o json``. Pure.

kubectl's YAML is ``sigs.k8s.io/yaml`` (JSON -> go-yaml v2): keys sorted, block style,
sequences not indented under their key, strings double-quoted only when they would
read back as something else, multi-line strings as literal blocks, no line folding.
Its JSON is Go's ``json.MarshalIndent`` with four spaces, sorted keys and ``<``, ``>``,
``&`` escaped.
"""
from __future__ import annotations

import json
import re
from typing import Any

import yaml


class _GoDumper(yaml.SafeDumper):
    pass


# go-yaml v2 quotes a string when a YAML 1.1 resolver would read it as another type
_NEEDS_QUOTES = re.compile(
    r"""^(?:
        [-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?   # numbers
      | [-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
      | 0x[0-9a-fA-F_]+ | 0o?[0-7_]+ | 0b[01_]+
      | [-+]?\.(?:inf|Inf|INF) | \.(?:nan|NaN|NAN)
      | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?          # sexagesimal
      | y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF
      | null|Null|NULL|~
      | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?
            (?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?
      | <<
    )$""", re.X)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        # go-yaml v2 asks for a literal block; both emitters fall back to quoting when one cannot hold it
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    if data == "" or _NEEDS_QUOTES.match(data):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"')
    node = dumper.represent_scalar("tag:yaml.org,2002:str", data)
    return node


def _analyze_style(self: yaml.emitter.Emitter) -> str:
    """PyYAML picks single quotes where go-yaml picks double quotes: swap them."""
    style = _orig_choose(self)
    return '"' if style == "'" else style


_orig_choose = yaml.emitter.Emitter.choose_scalar_style


class _GoEmitterDumper(_GoDumper):
    def ignore_aliases(self, data: Any) -> bool:  # go-yaml never writes anchors
        return True

    def choose_scalar_style(self) -> str:  # type: ignore[override]
        return _analyze_style(self)


_GoEmitterDumper.add_representer(str, _represent_str)
_GoEmitterDumper.add_representer(type(None), lambda d, _: d.represent_scalar("tag:yaml.org,2002:null", "null"))


def _represent_float(dumper: yaml.SafeDumper, data: float) -> yaml.ScalarNode:
    if data.is_integer() and abs(data) < 1e21:
        # a JSON number without a fraction reads back as an integer in Go too
        return dumper.represent_scalar("tag:yaml.org,2002:int", str(int(data)))
    return dumper.represent_scalar("tag:yaml.org,2002:float", repr(data))


_GoEmitterDumper.add_representer(float, _represent_float)


def to_yaml(obj: Any) -> str:
    """One document, as ``kubectl get -o yaml`` prints it (ending with a newline)."""
    return yaml.dump(obj, Dumper=_GoEmitterDumper, default_flow_style=False, sort_keys=True,
                     allow_unicode=True, width=float("inf"), indent=2)  # type: ignore[arg-type]


def to_json(obj: Any) -> str:
    """As ``kubectl get -o json``: four-space indent, sorted keys, HTML-escaped, trailing newline."""
    text = json.dumps(obj, indent=4, sort_keys=True, ensure_ascii=False, separators=(",", ": "))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text + "\n"


def as_list(items: list[dict[str, Any]], *, resource_version: str = "") -> dict[str, Any]:
    """The ``v1 List`` kubectl wraps several objects in for ``-o yaml|json``."""
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": resource_version}}
