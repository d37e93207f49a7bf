"""Errors a user can fix: one sentence, exit code 2, never a traceback."""

from __future__ import annotations

import click


class UserError(click.ClickException):
    exit_code = 2

    def show(self, file=None) -> None:  # noqa: D401 - click API
        click.echo(f"pmortem: error: {self.format_message()}", err=True, file=file)
