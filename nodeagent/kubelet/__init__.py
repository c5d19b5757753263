"""The node agent (the kubelet): registration, Lease heartbeat, pod workers, pod status.

It meets the engine only through CRI v1 (the generated stubs in
``skiff.nodeagent.runtime.cri.api_pb2*``), so it runs unchanged on containerd; it must
import nothing else from ``skiff.nodeagent.runtime`` (an import-linter contract says so).
"""
