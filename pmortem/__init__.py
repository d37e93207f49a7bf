"""pmortem: log exports in, postmortem out.

    import pmortem
    pmortem.ingest(["samples/forkbomb"], db="incident.duckdb")
    rep = pmortem.report("incident.duckdb")
    print(rep.incident, len(rep.findings))
    open("postmortem.md", "w").write(rep.to_markdown())

`import pmortem` imports nothing heavy and changes no environment variable: the API
(pmortem.api) is loaded on first use.
"""

from __future__ import annotations

import sys as _sys
import types as _types

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "ingest",
    "report",
    "Report",
    "IngestSummary",
    "PmortemError",
    "UserError",
    "DatabaseMissing",
    "NotAPmortemDatabase",
    "SchemaTooOld",
    "SchemaTooNew",
    "DatabaseLocked",
    "NoData",
    "UnknownService",
    "SQLError",
]

_FROM_API = {"report", "Report", "IngestSummary"}
_FROM_ERRORS = {
    "PmortemError",
    "UserError",
    "DatabaseMissing",
    "NotAPmortemDatabase",
    "SchemaTooOld",
    "SchemaTooNew",
    "DatabaseLocked",
    "NoData",
    "UnknownService",
    "SQLError",
}


class _IngestModule(_types.ModuleType):
    """`pmortem.ingest` is both the ingest module (pmortem/ingest.py, which tests and tools
    import and patch) and the library call `pmortem.ingest(paths, db=...)`: the module is
    made callable, the call goes to pmortem.api.ingest."""

    def __call__(self, *args, **kwargs):
        from .api import ingest

        return ingest(*args, **kwargs)


class _Package(_types.ModuleType):
    def __setattr__(self, name, value):
        # the import system sets pmortem.ingest to the submodule once it is imported
        if name == "ingest" and isinstance(value, _types.ModuleType) and type(value) is _types.ModuleType:
            value.__class__ = _IngestModule
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package


def __getattr__(name: str):
    if name == "ingest":
        import importlib

        return importlib.import_module(".ingest", __name__)
    if name in _FROM_API:
        from . import api

        return getattr(api, name)
    if name in _FROM_ERRORS:
        from . import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'pmortem' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
