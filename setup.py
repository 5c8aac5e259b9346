"""Packages of the wheel: `vigil` and the built-in checks, shipped as `vigil.checks` from this
repository's `checks/` (which stays where it is, so `pytest checks` works in a checkout)."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["vigil", "vigil.*"]), "vigil.checks"],
    package_dir={"vigil.checks": "checks"},
)
