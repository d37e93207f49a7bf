"""Docker's per-container `config.v2.json` (next to a json-file log, `<id>-json.log`).

`docker_labels`: the entities it names (the kubelet's io.kubernetes.* labels, else the
container's name); `docker_state_rows`: its `State` as the `container_terminated` event a
pod object's lastState gives (parsers/documents/k8s.py builds both).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .readers import InputError, open_regular

CONFIG_NAME = "config.v2.json"
DOCKER_STATE_SOURCE = "docker config.v2.json"  # attrs.source of the events made here
_LABELS = (("pod", "io.kubernetes.pod.name"), ("namespace", "io.kubernetes.pod.namespace"), ("container", "io.kubernetes.container.name"))


def config_of(log_path: str) -> Path | str:
    """The config.v2.json beside a json-file log (beside an object, for a store's URI)."""
    from .readers import is_uri

    return log_path.rsplit("/", 1)[0] + "/" + CONFIG_NAME if is_uri(log_path) else Path(log_path).parent / CONFIG_NAME


def read_config(path: Path | str) -> dict | None:
    try:
        if isinstance(path, str):  # a URI (config_of): read from the store, none if it is not there

            with open_regular(path) as fh:
                c = json.loads(fh.read(16 << 20))
        else:
            c = json.loads(path.read_text())
    except (OSError, ValueError, InputError):  # unreadable, absent (a URI: RemoteError) or not JSON
        return None
    return c if isinstance(c, dict) else None


def docker_labels(cfg_path: Path | str) -> dict[str, tuple[str, str]]:
    c = read_config(cfg_path) if isinstance(cfg_path, str) or cfg_path.exists() else None
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


def docker_state_rows(log_path: str) -> list[dict[str, Any]]:
    """The `container_terminated` event of a json-file log's container, from its sibling
    config.v2.json `State` (OOMKilled, ExitCode, FinishedAt), built as a pod object's
    lastState is (documents/k8s.py); none while the container runs or without a config."""
    from .documents.k8s import container_terminated_row
    from .events import service_from_pod

    p = Path(log_path)
    if log_path == "-" or not p.name.endswith("-json.log"):
        return []  # (a rotated `<id>-json.log.1` is the same container: its end is told once)
    c = read_config(config_of(log_path))
    state = c.get("State") if c else None
    if not isinstance(state, dict) or state.get("Running") or state.get("Restarting"):
        return []
    finished = state.get("FinishedAt")
    if not isinstance(finished, str) or finished.startswith("0001-"):
        return []  # never ran to an end
    code = state.get("ExitCode")
    oom = state.get("OOMKilled") is True
    reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")
    labels = {k: v[0] for k, v in docker_labels(config_of(log_path)).items()}
    pod = labels.get("pod")
    service = None
    if pod:
        import polars as pl

        service = pl.select(service_from_pod(pl.lit(pod, pl.String))).item()
    term = {
        "exitCode": code,
        "reason": reason,
        "startedAt": state.get("StartedAt"),
        "finishedAt": finished,
        "containerID": c.get("ID"),
        "message": f"{reason} (exit code {code})" + (f": {state['Error']}" if state.get("Error") else ""),
    }
    status = {"name": labels.get("container"), "restartCount": c.get("RestartCount")}
    entity = {"namespace": labels.get("namespace"), "pod": pod, "host": None, "service": service}
    row = container_terminated_row(term, status, entity)
    row["attrs"] = {**row.get("attrs", {}), "source": DOCKER_STATE_SOURCE, "oom_killed": oom}
    row["entity_source"] = json.dumps({f: "path" for f in ("pod", "namespace", "container") if labels.get(f)}, sort_keys=True)
    return [row]
