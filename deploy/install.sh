#!/usr/bin/env bash
# Installs what Skiff needs on a Debian 12 machine, as root: the Debian packages
# (etcd, runtimes, registry, iptables, CNI plugins) and a virtualenv at .venv with
# Skiff and its test extras. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  etcd-server runc crun containerd docker-registry busybox-static skopeo
  iptables iproute2 conntrack containernetworking-plugins apache2-utils python3-venv
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian enables etcd.service on install; Skiff runs its own embedded etcd on
  # free ports, so the packaged one is left alone but must not be required.
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.skiff-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip "setuptools>=68" wheel >/dev/null
  .venv/bin/pip install -q -e '.[test,embedded-etcd]'
  touch "$stamp"
fi
# Byte-compile Skiff's own tree (an editable install is not compiled): every container start
# runs `skiff runtime` in a new interpreter, and with PYTHONDONTWRITEBYTECODE set none of its
# modules would ever be cached. Only changed files are compiled again.
.venv/bin/python -m compileall -q -j 0 apiserver controllers nodeagent proxy scheduler skiff >/dev/null
