"""Go tabwriter alignment and kubectl's Table printing, checked against kubectl's own layouts."""
from __future__ import annotations

import pytest

from skiff.cli.tables import TableOptions, cell_text, format_labels, table_lines
from skiff.cli.tabwriter import RememberingWriter, format_lines


def test_columns_pad_to_widest_plus_padding_last_cell_unpadded() -> None:
    text = format_lines(["NAME\tSTATUS\tAGE", "default\tActive\t5s", "kube-node-lease\tActive\t5s"],
                        padding=3, minwidth=6)
    assert text == ("NAME              STATUS   AGE\n"
                    "default           Active   5s\n"
                    "kube-node-lease   Active   5s\n")


def test_minwidth_applies_to_short_columns() -> None:
    assert format_lines(["A\tB", "x\ty"], padding=3, minwidth=6) == "A     B\nx     y\n"


def test_blank_line_ends_a_column_block() -> None:
    text = format_lines(["NAME\tX", "a-very-long-name\t1", "", "N\tY", "b\t2"], padding=3, minwidth=0)
    assert text == "NAME               X\na-very-long-name   1\n\nN   Y\nb   2\n"


def test_lines_without_tabs_split_blocks_as_in_describe() -> None:
    text = format_lines(["Name:\tweb", "Pod Template:", "  Labels:\tapp=web", "  Containers:", "    Image:\tx",
                         "    Environment:\t<none>", "  Volumes:\t<none>"], padding=2)
    assert text.splitlines() == ["Name:  web", "Pod Template:", "  Labels:  app=web", "  Containers:",
                                 "    Image:        x", "    Environment:  <none>", "  Volumes:        <none>"]


def test_trailing_empty_cell_keeps_padding() -> None:
    assert format_lines(["A\tB\t", "aa\tbb\tc"], padding=3) == "A    B    \naa   bb   c\n"


def test_remembering_writer_only_grows() -> None:
    w = RememberingWriter(padding=3, minwidth=6)
    assert w.format(["NAME\tAGE", "web\t1s"]) == "NAME   AGE\nweb    1s\n"
    assert w.format(["a-much-longer-name\t2s"]) == "a-much-longer-name   2s\n"
    assert w.format(["x\t3s"]) == "x                    3s\n"


TABLE = {
    "kind": "Table", "apiVersion": "meta.k8s.io/v1",
    "columnDefinitions": [{"name": "Name", "type": "string", "priority": 0},
                          {"name": "Ready", "type": "string", "priority": 0},
                          {"name": "IP", "type": "string", "priority": 1},
                          {"name": "Age", "type": "string", "priority": 0}],
    "rows": [{"cells": ["web-1", "1/1", "10.244.0.5", "5s"],
              "object": {"metadata": {"name": "web-1", "namespace": "prod", "labels": {"b": "2", "a": "1"}}}},
             {"cells": ["web-2", "0/1", None, "2m"],
              "object": {"metadata": {"name": "web-2", "namespace": "dev"}}}],
}


@pytest.mark.parametrize("options,expected", [
    (TableOptions(), ["NAME\tREADY\tAGE", "web-1\t1/1\t5s", "web-2\t0/1\t2m"]),
    (TableOptions(wide=True), ["NAME\tREADY\tIP\tAGE", "web-1\t1/1\t10.244.0.5\t5s", "web-2\t0/1\t\t2m"]),
    (TableOptions(no_headers=True), ["web-1\t1/1\t5s", "web-2\t0/1\t2m"]),
    (TableOptions(with_namespace=True), ["NAMESPACE\tNAME\tREADY\tAGE", "prod\tweb-1\t1/1\t5s", "dev\tweb-2\t0/1\t2m"]),
    (TableOptions(show_labels=True), ["NAME\tREADY\tAGE\tLABELS", "web-1\t1/1\t5s\ta=1,b=2", "web-2\t0/1\t2m\t<none>"]),
    (TableOptions(label_columns=("example.com/b", "a")), ["NAME\tREADY\tAGE\tB\tA", "web-1\t1/1\t5s\t\t1",
                                                          "web-2\t0/1\t2m\t\t"]),
    (TableOptions(kind_prefix="pod"), ["NAME\tREADY\tAGE", "pod/web-1\t1/1\t5s", "pod/web-2\t0/1\t2m"]),
], ids=["default", "wide", "no-headers", "all-namespaces", "show-labels", "label-columns", "kind-prefix"])
def test_table_lines(options: TableOptions, expected: list[str]) -> None:
    assert table_lines(TABLE, options) == expected


def test_empty_table_prints_nothing_even_headers() -> None:
    assert table_lines({**TABLE, "rows": []}, TableOptions()) == []


@pytest.mark.parametrize("cell,text", [
    (None, ""), ("a", "a"), ("two\nlines", "two..."), (3, "3"), (2.0, "2"), (1.5, "1.5"), (True, "true"),
    (["a", 1], "[a 1]"), ({"b": 1, "a": "x"}, "map[a:x b:1]"),
])
def test_cell_text_like_go(cell: object, text: str) -> None:
    assert cell_text(cell) == text


def test_format_labels() -> None:
    assert format_labels({}) == "<none>"
    assert format_labels({"z": "1", "a": "2"}) == "a=2,z=1"
