"""Maps the top-level component folders into the one ``skiff`` package.

ARCHITECTURE.md keeps ``apiserver/``, ``scheduler/``, … at the top of the repo but
installs them as ``skiff.apiserver``, ``skiff.scheduler``, …; setuptools needs every
subpackage listed, so they are discovered here rather than kept by hand.
"""
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent
COMPONENTS = ("apiserver", "scheduler", "controllers", "nodeagent", "proxy")


def _packages(folder: str, name: str) -> list[str]:
    base = ROOT / folder
    found = []
    for init in sorted(base.rglob("__init__.py")):
        rel = init.parent.relative_to(base)
        found.append(".".join((name, *rel.parts)) if rel.parts else name)
    return found


packages = _packages("skiff", "skiff")
package_dir = {"skiff": "skiff"}
for comp in COMPONENTS:
    packages += _packages(comp, f"skiff.{comp}")
    package_dir[f"skiff.{comp}"] = comp

setup(packages=packages, package_dir=package_dir)
