"""Dev-time generator of the CRI v1 Python modules from ``nodeagent/runtime/cri/api.proto``.

Run ``.venv/bin/python deploy/codegen/gen_cri.py`` (needs ``grpcio-tools``) and commit
``api_pb2.py``, ``api_pb2.pyi`` and ``api_pb2_grpc.py``; the runtime only imports them. The
generated ``api_pb2_grpc.py`` imports ``api_pb2`` as a top-level module, so the import is
rewritten to a package-relative one.
"""
from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

CRI = Path(__file__).resolve().parents[2] / "nodeagent" / "runtime" / "cri"


def main() -> int:
    rc = protoc.main([
        "protoc", f"-I{CRI}", f"--python_out={CRI}", f"--pyi_out={CRI}", f"--grpc_python_out={CRI}",
        str(CRI / "api.proto"),
    ])
    if rc != 0:
        return int(rc)
    grpc_mod = CRI / "api_pb2_grpc.py"
    text = grpc_mod.read_text().replace("import api_pb2 as api__pb2", "from . import api_pb2 as api__pb2")
    grpc_mod.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
