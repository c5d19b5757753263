"""cgroups v1 and v2 for containers: detection, resource writers, stats, freezer.

Writers take the hierarchy root as a parameter (tests use a temp dir); nothing
here decides *where* a container's cgroup goes beyond joining a path under it.
"""
