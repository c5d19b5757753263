"""Containers of the engine: records, OCI bundles, supervision, lifecycle, logs.

``dockerspec`` (pure) turns a Docker create request + image config into an OCI
spec; ``manager`` applies lifecycle changes through ``skiff-shim`` and the
runtime; ``store`` keeps Docker-shaped records on disk under ``<root>/containers``.
"""
