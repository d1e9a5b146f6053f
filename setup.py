"""Maps the design card's top-level layers onto the ``chargelog`` import package.

``domain/`` → ``chargelog.domain``, ``projections/`` → ``chargelog.projections``,
``adapters/`` → ``chargelog.adapters`` (every sub-package with an ``__init__.py``).
Everything else is declared in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup

LAYERS = ("domain", "projections", "adapters")
package_dir = {"chargelog": "chargelog"}
packages = ["chargelog"]
for layer in LAYERS:
    for init in sorted(Path(layer).rglob("__init__.py")):
        rel = init.parent
        name = "chargelog." + ".".join(rel.parts)
        packages.append(name)
        package_dir[name] = str(rel)

setup(packages=packages, package_dir=package_dir)
