"""Cluster DNS: Services and EndpointSlices answered as ``<svc>.<ns>.svc.cluster.local``."""
