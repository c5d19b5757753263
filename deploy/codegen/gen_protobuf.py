"""Dev-time generator of ``skiff/api/protobuf/tables.json``, the field tables of the protobuf decoder.

Run ``.venv/bin/python deploy/codegen/gen_protobuf.py [--kubectl PATH]`` and commit the JSON; the
runtime only reads the JSON.

Source: the ``FileDescriptorProto`` of every ``k8s.io/api/*/generated.proto`` and apimachinery
``generated.proto``, as the gogo-protobuf code generator embeds them (gzipped) in every Go binary
that links the API types -- here the ``kubectl`` that sends the protobuf bodies, so the tables are
those of exactly the client version. They carry what the published ``.proto`` text lacks and the
decoder needs: the gogo ``nullable`` option (a Go pointer field is written only when set, so a
zero there is meaningful, e.g. ``replicas: 0``; a non-pointer one is always written and then
dropped by ``omitempty``) and the Go field name (an embedded struct is named after its type,
which with the OpenAPI definitions tells the ``json:",inline"`` fields such as
``Volume.volumeSource``). ``--proto FILE.proto ...`` reads published ``.proto`` text instead (no
nullable nor inline information then: every scalar is taken as a pointer); ``--check-proto
FILE.proto ...`` compares the committed tables with published ``.proto`` text (saved under /tmp
from k8s.io/api, never committed).

The Go struct tags found in the binary (``json:"value" protobuf:"varint,2,opt,name=value"``)
say which non-pointer fields have no ``omitempty``, so their zero value stays in the JSON.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import zlib
from pathlib import Path
from typing import Any, Iterator

from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from skiff.api.resources import RESOURCES  # noqa: E402

OUT = ROOT / "skiff" / "api" / "protobuf" / "tables.json"
DEFINITIONS = ROOT / "skiff" / "api" / "schema" / "definitions.json"
DEFAULT_KUBECTL = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"

GROUP_PACKAGE = {
    "": "k8s.io.api.core.v1", "apps": "k8s.io.api.apps.v1", "batch": "k8s.io.api.batch.v1",
    "autoscaling": "k8s.io.api.autoscaling.v1", "policy": "k8s.io.api.policy.v1",
    "authentication.k8s.io": "k8s.io.api.authentication.v1",
    "coordination.k8s.io": "k8s.io.api.coordination.v1", "discovery.k8s.io": "k8s.io.api.discovery.v1",
    "networking.k8s.io": "k8s.io.api.networking.v1", "rbac.authorization.k8s.io": "k8s.io.api.rbac.v1",
    "storage.k8s.io": "k8s.io.api.storage.v1", "scheduling.k8s.io": "k8s.io.api.scheduling.v1",
}
META = "k8s.io.apimachinery.pkg.apis.meta.v1"
# Kinds sent to subresources or as options, beside the table of resources.
EXTRA_KINDS = [("autoscaling/v1", "Scale", "k8s.io.api.autoscaling.v1.Scale"),
               ("v1", "Binding", "k8s.io.api.core.v1.Binding"),
               ("policy/v1", "Eviction", "k8s.io.api.policy.v1.Eviction"),
               ("authentication.k8s.io/v1", "TokenRequest", "k8s.io.api.authentication.v1.TokenRequest"),
               ("meta.k8s.io/v1", "DeleteOptions", META + ".DeleteOptions")]
# client-go encodes DeleteOptions under the group version of the resource being deleted.
DELETE_OPTIONS_VERSIONS = sorted({r.api_version for r in RESOURCES} | {"v1", "autoscaling/v1", "policy/v1"})
# Messages the decoder renders itself (their JSON form is not an object).
SPECIAL = {
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "quantity",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "intorstring",
    META + ".Time": "time", META + ".MicroTime": "microtime", META + ".Duration": "duration",
    META + ".FieldsV1": "rawjson", "k8s.io.apimachinery.pkg.runtime.RawExtension": "rawjson",
}
SCALARS = {
    descriptor_pb2.FieldDescriptorProto.TYPE_STRING: "string",
    descriptor_pb2.FieldDescriptorProto.TYPE_BYTES: "bytes",
    descriptor_pb2.FieldDescriptorProto.TYPE_BOOL: "bool",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT32: "int32",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT64: "int64",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT32: "uint32",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT64: "uint64",
    descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE: "double",
    descriptor_pb2.FieldDescriptorProto.TYPE_FLOAT: "float",
}
GOGO_NULLABLE, GOGO_CUSTOMNAME = 65001, 65004


# --- reading descriptors ------------------------------------------------------------------------


def descriptors_from_binary(path: str) -> Iterator[descriptor_pb2.FileDescriptorProto]:
    """Every gzipped FileDescriptorProto of a Kubernetes API package embedded in a Go binary."""
    data = Path(path).read_bytes()
    for match in re.finditer(rb"\x1f\x8b\x08\x00\x00\x00\x00\x00", data):
        try:
            raw = zlib.decompressobj(31).decompress(data[match.start():match.start() + 8_000_000])
            fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
        except Exception:  # not a descriptor: any other gzip stream in the binary
            continue
        if fd.name.startswith(("k8s.io/api/", "k8s.io/apimachinery/")) and fd.name.endswith("generated.proto"):
            yield fd


_PROTO_FIELD = re.compile(r"^\s*(optional|repeated|required)?\s*"
                          r"(map<\s*(\S+)\s*,\s*(\S+)\s*>|[\w.]+)\s+(\w+)\s*=\s*(\d+)")


def descriptors_from_proto_text(paths: list[str]) -> Iterator[descriptor_pb2.FileDescriptorProto]:
    """A minimal parser of the published generated.proto text (messages, fields, maps, nesting)."""
    for path in paths:
        text = re.sub(r"/\*.*?\*/", "", Path(path).read_text(), flags=re.S)
        fd = descriptor_pb2.FileDescriptorProto(name=path)
        stack: list[descriptor_pb2.DescriptorProto] = []
        for line in text.splitlines():
            line = line.split("//", 1)[0]
            if m := re.match(r"^\s*package\s+([\w.]+);", line):
                fd.package = m.group(1)
            elif m := re.match(r"^\s*message\s+(\w+)\s*{", line):
                msg = (stack[-1].nested_type.add() if stack else fd.message_type.add())
                msg.name = m.group(1)
                stack.append(msg)
            elif re.match(r"^\s*}", line) and stack:
                stack.pop()
            elif stack and (m := _PROTO_FIELD.match(line)):
                _add_text_field(fd, stack[-1], m)
        yield fd


def _add_text_field(fd: descriptor_pb2.FileDescriptorProto, msg: descriptor_pb2.DescriptorProto,
                    m: re.Match[str]) -> None:
    types = {v: k for k, v in SCALARS.items()}
    label, typ, key, value, name, number = m.groups()
    field = msg.field.add(name=name, number=int(number), json_name=name)
    field.label = field.LABEL_REPEATED if label == "repeated" or key else field.LABEL_OPTIONAL
    if key:  # map<K, V> is a repeated nested XxxEntry message with map_entry set
        entry = msg.nested_type.add(name=name[0].upper() + name[1:] + "Entry")
        entry.options.map_entry = True
        for n, (fname, ftype) in enumerate((("key", key), ("value", value)), start=1):
            _set_type(entry.field.add(name=fname, number=n, json_name=fname), ftype, fd.package, types)
        field.type, field.type_name = field.TYPE_MESSAGE, f".{fd.package}.{msg.name}.{entry.name}"
    else:
        _set_type(field, typ, fd.package, types)


def _set_type(field: descriptor_pb2.FieldDescriptorProto, typ: str, package: str, types: dict[str, int]) -> None:
    if typ in types:
        field.type = types[typ]  # type: ignore[assignment]
    else:
        field.type = field.TYPE_MESSAGE
        field.type_name = "." + (typ if "." in typ else f"{package}.{typ}")


# --- options --------------------------------------------------------------------------------------


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, pos


def gogo_options(field: descriptor_pb2.FieldDescriptorProto) -> dict[int, Any]:
    """The gogoproto extensions of a field (kept as unknown fields of FieldOptions)."""
    data, pos, out = field.options.SerializeToString(), 0, {}
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            out[number], pos = _read_varint(data, pos)
        elif wire == 2:
            size, pos = _read_varint(data, pos)
            out[number], pos = data[pos:pos + size].decode(), pos + size
        else:
            raise ValueError(f"unexpected wire type {wire} in the options of {field.name}")
    return out


def go_tags_from_binary(path: str) -> dict[tuple[str, int, str], set[Any]]:
    """(proto name, number, wire word) -> the omitempty values of the Go struct tags that carry it.

    Also (proto name, number, "json") -> the JSON names given to it (``uID`` is ``uid`` in JSON)."""
    text = Path(path).read_bytes()
    out: dict[tuple[str, int, str], set[Any]] = {}
    for m in re.finditer(rb'json:"([^"]*)"(?: \w+:"[^"]*")*? protobuf:"(\w+),(\d+),[^"]*?name=(\w+)', text):
        json_tag = m.group(1).decode()
        key = (m.group(4).decode(), int(m.group(3)), m.group(2).decode())
        out.setdefault(key, set()).add("omitempty" in json_tag.split(",")[1:])
        out.setdefault((key[0], key[1], "json"), set()).add(json_tag.split(",")[0])
    return out


# --- building the tables ----------------------------------------------------------------------------


def build(files: list[descriptor_pb2.FileDescriptorProto], tags: dict[tuple[str, int, str], set[Any]],
          definitions: dict[str, Any]) -> dict[str, Any]:
    messages: dict[str, descriptor_pb2.DescriptorProto] = {}

    def collect(prefix: str, msgs: Any) -> None:
        for msg in msgs:
            messages[f"{prefix}.{msg.name}"] = msg
            collect(f"{prefix}.{msg.name}", msg.nested_type)

    for fd in files:
        collect(fd.package, fd.message_type)

    kinds: dict[str, str] = {}
    for r in RESOURCES:
        kinds[f"{r.api_version}/{r.kind}"] = f"{GROUP_PACKAGE[r.group]}.{r.kind}"
    for api_version, kind, message in EXTRA_KINDS:
        kinds[f"{api_version}/{kind}"] = message
    for api_version in DELETE_OPTIONS_VERSIONS:
        kinds[f"{api_version}/DeleteOptions"] = META + ".DeleteOptions"
    missing = sorted(m for m in kinds.values() if m not in messages)
    if missing:
        raise SystemExit(f"messages not found in the descriptors: {missing}")

    tables: dict[str, Any] = {}
    todo = sorted(set(kinds.values()))
    while todo:
        name = todo.pop()
        if name in tables or name in SPECIAL:
            continue
        tables[name] = {}
        for field in messages[name].field:
            entry, refs = _field_entry(name, field, messages, tags, definitions)
            tables[name][str(field.number)] = entry
            todo.extend(r for r in refs if r not in tables)
    short = {k: _short(v) for k, v in kinds.items()}
    return {"kinds": dict(sorted(short.items())),
            "messages": {_short(k): v for k, v in sorted(tables.items())}}


def _short(name: str) -> str:
    return name.removeprefix("k8s.io.")


def _field_entry(owner: str, field: descriptor_pb2.FieldDescriptorProto,
                 messages: dict[str, descriptor_pb2.DescriptorProto],
                 tags: dict[tuple[str, int, str], set[Any]],
                 definitions: dict[str, Any]) -> tuple[list[Any], list[str]]:
    """[json name, type, flags]; flags: r repeated, m map (type is the value's), i inline,
    k keep a zero value, n render as null when absent (a nil pointer, slice or map without omitempty)."""
    flags, refs = "", []
    opts = gogo_options(field)
    pointer = opts.get(GOGO_NULLABLE, 1) != 0
    if field.type == field.TYPE_MESSAGE:
        target = field.type_name.lstrip(".")
        sub = messages[target]
        if sub.options.map_entry:
            key_f, value_f = sub.field[0], sub.field[1]
            if SCALARS.get(key_f.type) != "string":
                raise SystemExit(f"{owner}.{field.name}: map key of type {key_f.type} is not handled")
            typ = _short(_type_of(value_f))
            refs = [value_f.type_name.lstrip(".")] if value_f.type == value_f.TYPE_MESSAGE else []
            flags = "m"
        else:
            typ, refs = _short(target), [target]
            if _is_inline(owner, field, opts, definitions):
                flags += "i"
    else:
        typ = SCALARS[field.type]
    repeated = field.label == field.LABEL_REPEATED
    if repeated and "m" not in flags:
        flags += "r"
    # Struct tags are shared by every struct with the same one, so a (name, number) seen both with
    # and without omitempty tells nothing. A non-pointer scalar's wire word is exact; a pointer's
    # may be "bytes" even for a number (discovery EndpointPort.port), so both words must agree.
    word = "bytes" if field.type == field.TYPE_MESSAGE or typ in ("string", "bytes") else "varint"
    exact = tags.get((field.name, field.number, word)) == {False}
    loose = tags.get((field.name, field.number, "bytes"), set()) | tags.get((field.name, field.number, "varint"), set())
    if not repeated and field.type != field.TYPE_MESSAGE and (pointer or exact):
        flags += "k"
    if loose == {False} and "i" not in flags and (repeated or pointer):
        flags += "n"
    return [_json_name(field, tags), typ, flags], refs


def _json_name(field: descriptor_pb2.FieldDescriptorProto, tags: dict[tuple[str, int, str], set[Any]]) -> str:
    """The proto name is the JSON name but for a few (``BoundObjectReference.uID`` is ``uid``)."""
    names = tags.get((field.name, field.number, "json"), set()) - {"", "-"}
    return names.pop() if len(names) == 1 else field.name


def _type_of(field: descriptor_pb2.FieldDescriptorProto) -> str:
    return field.type_name.lstrip(".") if field.type == field.TYPE_MESSAGE else SCALARS[field.type]


def _is_inline(owner: str, field: descriptor_pb2.FieldDescriptorProto, opts: dict[int, Any],
               definitions: dict[str, Any]) -> bool:
    """An embedded Go struct (named after its type) whose JSON properties are the owner's own."""
    type_short = field.type_name.rsplit(".", 1)[-1]
    if opts.get(GOGO_CUSTOMNAME) != type_short:
        return False
    definition = definitions.get("io.k8s." + _short(owner))
    if definition is None:  # only types that are themselves inlined (EphemeralContainerCommon): no nesting
        print(f"note: {owner}.{field.name} ({type_short}) taken as not inline: {owner} has no OpenAPI definition",
              file=sys.stderr)
        return False
    return field.name not in definition.get("properties", {})


def check_names(tables: dict[str, Any], definitions: dict[str, Any]) -> list[str]:
    """Proto field names that are not JSON property names of the OpenAPI definition (should be none)."""
    problems = []
    for msg, fields in tables["messages"].items():
        definition = definitions.get("io.k8s." + msg)
        if definition is None:
            continue
        props = definition.get("properties", {})
        for number, (name, _typ, flags) in fields.items():
            if "i" not in flags and name not in props:
                problems.append(f"{msg}.{name} ({number})")
    return problems


def check_against_proto(tables: dict[str, Any], paths: list[str]) -> list[str]:
    """Fields of published .proto text whose number, name, type or repetition differ from the tables."""
    problems = []
    for fd in descriptors_from_proto_text(paths):
        for msg in fd.message_type:
            name = _short(f"{fd.package}.{msg.name}")
            entries = {f"{fd.package}.{msg.name}.{n.name}": n for n in msg.nested_type if n.options.map_entry}
            for f in msg.field if name in tables["messages"] else ():
                got = tables["messages"][name].get(str(f.number))
                entry = entries.get(f.type_name.lstrip("."))
                typ = _short(_type_of(entry.field[1] if entry else f))
                shape = "m" if entry else "r" if f.label == f.LABEL_REPEATED else ""
                if got is None or got[0] != f.name or got[1] != typ or shape != (set("mr") & set(got[2]) or {""}).pop():
                    problems.append(f"{name} field {f.number} {f.name} {typ}: tables say {got}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubectl", default=DEFAULT_KUBECTL, help="a kubectl binary to read descriptors and tags from")
    parser.add_argument("--proto", nargs="*", help="read published .proto text files instead")
    parser.add_argument("--check-proto", nargs="*", help="compare the committed tables with published .proto text")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    if args.check_proto:
        problems = check_against_proto(json.loads(Path(args.out).read_text()), args.check_proto)
        print("\n".join(problems) or f"the tables agree with {len(args.check_proto)} .proto file(s)")
        return 1 if problems else 0
    definitions = json.loads(DEFINITIONS.read_text())["definitions"]
    if args.proto:
        files, tags = list(descriptors_from_proto_text(args.proto)), {}
    else:
        files, tags = list(descriptors_from_binary(args.kubectl)), go_tags_from_binary(args.kubectl)
    tables = build(files, tags, definitions)
    tables["source"] = (f"descriptors and struct tags embedded in {Path(args.kubectl).name}" if not args.proto
                        else "published generated.proto text")
    for problem in check_names(tables, definitions):
        print(f"warning: not an OpenAPI property: {problem}", file=sys.stderr)
    text = json.dumps(tables, separators=(",", ":"), sort_keys=False)
    Path(args.out).write_text(text.replace('},"', '},\n"') + "\n")
    print(f"{len(tables['messages'])} messages, {len(tables['kinds'])} kinds -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
