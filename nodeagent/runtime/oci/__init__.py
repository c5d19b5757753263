"""Skiff's own low-level OCI runtime (what runc is to Docker).

``spec`` reads and checks a bundle's ``config.json``; ``plan`` turns it into pure
data (mount actions, devices, capability sets); ``init`` runs the ordered creation
steps inside the new container process through the ``Syscalls`` protocol of
``syscalls``; ``container`` keeps runc-style state under ``--root``. Modules here
import only the standard library so ``skiff runtime`` starts fast.
"""
