"""Server-side printing: ``meta.k8s.io/v1`` Tables with the columns Kubernetes prints per kind.

Pure: objects and ``now`` in, a Table dict out; the REST layer picks it by the Accept header.
"""
from __future__ import annotations

from .duration import human_duration
from .table import IncludeObjectError, table

__all__ = ["table", "human_duration", "IncludeObjectError"]
