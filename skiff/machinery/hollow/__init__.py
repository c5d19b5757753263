"""Hollow nodes: simulated kubelets that register Nodes, renew Leases and run pods on paper (kubemark)."""
from .cluster import HollowCluster, HollowOptions
from .kubelet import EXIT_CODE, RUN_SECONDS, START_SECONDS, NodeShape

__all__ = ["EXIT_CODE", "HollowCluster", "HollowOptions", "NodeShape", "RUN_SECONDS", "START_SECONDS"]
