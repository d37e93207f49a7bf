"""Secret redaction for everything a report quotes. Built-in rules first, then ./pmortem.toml [[redact]]."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass

from ..errors import UserError
from ..safe_text import visible

# (name, regex, replacement); Python `re` syntax, case-insensitive where it says (?i).
DEFAULT_RULES: list[tuple[str, str, str]] = [
    ("url_password", r"(?i)\b([a-z][a-z0-9+.\-]*://[^:/\s@'\"]+:)[^@\s/'\"]+@", r"\1***@"),
    ("bearer_token", r"(?i)\b(bearer|token|basic)(\s+)[a-z0-9._~+/\-]{8,}=*", r"\1\2***"),
    ("authorization_header", r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]+(?:\s+[^\s\"',;]+)?", r"\1***"),
    ("cookie_header", r"(?i)\b((?:set-)?cookie[\"']?\s*[:=]\s*)[^\n\"]*", r"\1***"),
    ("credential_key", r"(?i)\b([a-z0-9_.\-]*(?:password|passwd|pwd|secret|token|api[_\-]?key|access[_\-]?key|private[_\-]?key|credential)s?[a-z0-9_.\-]*[\"']?\s*[:=]\s*[\"']?)(?!\*\*\*)[^\s\"',;&]+", r"\1***"),
    ("aws_access_key", r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", r"\1***"),
    ("private_key_block", r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", "-----PRIVATE KEY REDACTED-----"),
]


@dataclass
class Redactor:
    rules: list[tuple[str, re.Pattern[str], str]]

    def __call__(self, text: object) -> str:
        if text is None:
            return ""
        s = str(text)
        for _, rx, repl in self.rules:
            s = rx.sub(repl, s)
        return visible(s)  # control characters, ESC, BiDi overrides shown, not interpreted

    def describe(self) -> list[dict[str, str]]:
        return [{"name": n, "regex": rx.pattern, "replacement": r} for n, rx, r in self.rules]


def load_redactor(config_path: str | None = None) -> Redactor:
    """Built-in rules, then the [[redact]] rules of --config or ./pmortem.toml when present.

    `[redact] defaults = false` in the config turns the built-in rules off (not recommended).
    """
    path = config_path or ("pmortem.toml" if os.path.exists("pmortem.toml") else None)
    cfg: dict = {}
    if path:
        try:
            with open(path, "rb") as fh:
                cfg = tomllib.load(fh)
        except FileNotFoundError:
            raise UserError(f"config file {path} not found; pass an existing --config") from None
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"config file {path} is not valid TOML: {exc}") from None
    rules: list[tuple[str, re.Pattern[str], str]] = []
    opts = cfg.get("redact_options", {}) if isinstance(cfg.get("redact_options"), dict) else {}
    if opts.get("defaults", True):
        rules += [(n, re.compile(rx), r) for n, rx, r in DEFAULT_RULES]
    user = cfg.get("redact", [])
    if isinstance(user, dict):
        user = [user]
    for i, r in enumerate(user):
        if "regex" not in r:
            raise UserError(f"{path}: [[redact]] rule {i + 1} has no regex; add regex = '...' and replacement = '***'")
        try:
            rx = re.compile(r["regex"])
        except re.error as exc:
            raise UserError(f"{path}: [[redact]] rule {i + 1} regex does not compile: {exc}") from None
        rules.append((r.get("name", f"config_{i + 1}"), rx, r.get("replacement", "***")))
    return Redactor(rules)
