"""Map the top-level ``drivers/`` and ``sim/`` folders into the ``physres`` namespace.

pyproject.toml holds all metadata; this file exists only because setuptools'
declarative ``packages.find`` cannot re-root a folder under another package name.
``drivers/`` installs as ``physres.drivers`` and ``sim/`` as ``physres.sim``, so
nothing generic lands at the top of site-packages; ``firmware/`` installs as
``physres.firmware`` (C sources as package data, so a wheel can build them).
"""

from setuptools import find_packages, setup

_ROOTS = {
    "physres": "physres",
    "physres.drivers": "drivers",
    "physres.sim": "sim",
    "physres.firmware": "firmware",
}


def _packages() -> list[str]:
    found: list[str] = []
    for name, folder in _ROOTS.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_packages(where=folder)]
    return sorted(set(found))


setup(packages=_packages(), package_dir=dict(_ROOTS))
