"""Import every table module so `truceline.store.base.metadata` knows all tables.

Table modules are `truceline.store.reports` plus every module of this package whose
name ends in `_tables` (`log_tables`, `commission_tables`, ...): a stage adds its tables
by adding such a module and an Alembic revision, without editing this file.
"""

from __future__ import annotations

import importlib
import pkgutil

import truceline.store as _pkg
from truceline.store.base import metadata

TABLE_MODULES = ["truceline.store.reports"] + sorted(
    f"truceline.store.{m.name}" for m in pkgutil.iter_modules(_pkg.__path__) if m.name.endswith("_tables"))

for _name in TABLE_MODULES:
    importlib.import_module(_name)

__all__ = ["TABLE_MODULES", "metadata"]
