"""The classic Dockerfile builder (``DOCKER_BUILDKIT=0 docker build``).

Pure parts, tested without I/O: ``dockerfile`` (parsing into stages and typed
instructions), ``words`` (ARG/ENV substitution as Docker's shell lexer does it),
``dockerignore`` (pattern matching), ``cache`` (the run configs and comments the
layer cache compares), ``copyspec`` (COPY/ADD source and destination rules).
I/O: ``context`` (the build context on disk, source hashes), ``fsops`` (copying
into a mounted rootfs), ``builder`` (runs the steps with the engine's image store
and container manager).
"""
