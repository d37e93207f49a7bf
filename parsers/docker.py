"""Docker's per-container `config.v2.json` (next to a json-file log, `<id>-json.log`).

`docker_labels`: the entities it names (the kubelet's io.kubernetes.* labels, else the
container's name).
"""

from __future__ import annotations

import json
from pathlib import Path

CONFIG_NAME = "config.v2.json"
_LABELS = (("pod", "io.kubernetes.pod.name"), ("namespace", "io.kubernetes.pod.namespace"), ("container", "io.kubernetes.container.name"))


def read_config(path: Path) -> dict | None:
    try:
        c = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return c if isinstance(c, dict) else None


def docker_labels(cfg_path: Path) -> dict[str, tuple[str, str]]:
    c = read_config(cfg_path) if cfg_path.exists() else None
    if not c:
        return {}
    out: dict[str, tuple[str, str]] = {}
    lab = (c.get("Config") or {}).get("Labels") or {}
    for f, k in _LABELS:
        if lab.get(k):
            out[f] = (lab[k], "path")
    if "container" not in out and c.get("Name"):
        out["container"] = (str(c["Name"]).lstrip("/"), "path")
    return out

