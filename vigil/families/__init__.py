"""The built-in check families, one package each: `__init__.py` declares the family (its
section, target kinds and observations), `spec.py` holds its settings, `probe.py` its
read-only I/O. The checks that judge them are in the suite, `checks/test_<family>.py`."""

from __future__ import annotations

from vigil.families import dependencies, http, kubernetes, postgres, prometheus, redis, tls
from vigil.family import Family

BUILTIN: tuple[Family, ...] = (
    http.FAMILY,
    postgres.FAMILY,
    redis.FAMILY,
    kubernetes.FAMILY,
    tls.FAMILY,
    dependencies.FAMILY,
    prometheus.FAMILY,
)
