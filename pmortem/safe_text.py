"""Text from logs made safe to show: control characters made visible, never interpreted.

Pod names, file names and messages come from whatever a broken system wrote; an ESC in one
could move the cursor, recolour or retitle the terminal, hide text or (with OSC 52) write the
clipboard, and a BiDi override (U+202E) reorders what a reader sees in a terminal, a Markdown
page or an editor (CWE-150, "Trojan Source"). `visible` turns each such character into its
escape (`\\x1b`, `\\u202e`); tab and newline are kept (layout). Used on every terminal output
and every report rendering; the database keeps the original bytes.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls but tab and newline, DEL, C1 controls, the BiDi embeddings/overrides
# (U+202A-U+202E) and isolates (U+2066-U+2069)
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match) -> str:
    c = ord(m.group(0))
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def visible(text: Any) -> Any:
    """`text` with control characters, ESC and BiDi overrides as visible escapes; anything
    that is not a string is returned as it is."""
    if not isinstance(text, str) or not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(_escape, text)


def visible_obj(obj: Any) -> Any:
    """`visible` applied to every string (keys too) in nested dicts, lists and tuples (a JSON
    rendering: its decoded values must not carry the raw characters either)."""
    if isinstance(obj, str):
        return visible(obj)
    if isinstance(obj, dict):
        return {visible(k): visible_obj(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [visible_obj(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(visible_obj(v) for v in obj)
    return obj
