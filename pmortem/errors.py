"""Errors a user can fix: one sentence each.

The library raises `PmortemError` (a plain Exception, never a click one, so `import pmortem`
callers need not know click); the command line prints any of them as one line
`pmortem: error: ...` and exits 2. `UserError` is the name the rest of pmortem raises.
"""

from __future__ import annotations


class PmortemError(Exception):
    """Something the user can fix: a missing file, a bad option, a database that is not pmortem's."""

    exit_code = 2

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class UserError(PmortemError):
    """A bad input or option (the name the parsers, the ingest and the analyzer raise)."""


class DatabaseMissing(PmortemError):
    """No database file at the path."""


class NotAPmortemDatabase(PmortemError):
    """The file is not a DuckDB database, or one pmortem did not make."""


class SchemaTooOld(PmortemError):
    """Made by an older pmortem; a writing command (ingest, migrate) upgrades it."""


class SchemaTooNew(PmortemError):
    """Made by a newer pmortem."""


class DatabaseLocked(PmortemError):
    """Another process holds the database longer than --wait."""


class NoData(PmortemError):
    """The database, or the chosen window, holds no events."""


class UnknownService(PmortemError):
    """--service matches no event."""


class SQLError(PmortemError):
    """An ad-hoc query failed (the message keeps DuckDB's whole text, hints included)."""
