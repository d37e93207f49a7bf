"""Entities (service, namespace, pod, container, host) a source's lines do not say themselves.

- `path_labels`: what a file's path tells (/var/log/pods/..., /var/log/containers/...,
  a docker json-file's config.v2.json, `<pod>.log` as saved from kubectl logs);
- `source_labels`: those merged with the --service/--pod/... flags and the config's labels,
  in order of trust (the lines' envelope and payload, resolved per event in events.py, come first);
- `RESOLVE_STATEMENTS`: the rules that only apply once all of a run's sources are in (the
  node a pod ran on, from its pod object; each source's summary of its entities), as SQL
  the ingest runs in one transaction.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .events import ENTITY_FIELDS, K8S_SUFFIX

GENERIC_STEMS = {"app", "application", "server", "service", "output", "out", "log", "logs", "messages", "syslog", "stdout", "stderr", "main", "current", "debug", "error", "access", "combined", "all"}
POD_NAME_RE = re.compile(rf"^[a-z0-9][a-z0-9-]*-(?:{K8S_SUFFIX}{{6,10}}-{K8S_SUFFIX}{{5}}|{K8S_SUFFIX}{{5}}|\d+)$")

Labels = dict[str, tuple[str, str]]  # field -> (value, origin)


def path_labels(path: str) -> dict[str, tuple[str, str]]:
    """Kubernetes metadata a file's path carries."""
    if path == "-":
        return {}
    p = Path(path)
    parts = p.parts
    out: dict[str, tuple[str, str]] = {}
    # /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log
    if len(parts) >= 3 and re.fullmatch(r"\d+\.log(?:\.[\w.-]+)?", parts[-1]):
        m = re.fullmatch(r"([a-z0-9-]+)_([a-z0-9.-]+)_([0-9a-f-]{8,})", parts[-3])
        if m:
            out["namespace"] = (m.group(1), "path")
            out["pod"] = (m.group(2), "path")
            out["container"] = (parts[-2], "path")
            return out
    # /var/log/containers/<pod>_<namespace>_<container>-<64 hex>.log
    m = re.fullmatch(r"([a-z0-9.-]+)_([a-z0-9-]+)_(.+)-[0-9a-f]{64}\.log", parts[-1])
    if m:
        return {"pod": (m.group(1), "path"), "namespace": (m.group(2), "path"), "container": (m.group(3), "path")}
    # docker json-file: the sibling config.v2.json names the container and its pod
    if parts[-1].endswith("-json.log"):
        cfg = p.parent / "config.v2.json"
        if cfg.exists():
            try:
                c = json.loads(cfg.read_text())
                lab = (c.get("Config") or {}).get("Labels") or {}
                for f, k in (("pod", "io.kubernetes.pod.name"), ("namespace", "io.kubernetes.pod.namespace"), ("container", "io.kubernetes.container.name")):
                    if lab.get(k):
                        out[f] = (lab[k], "path")
                if "container" not in out and c.get("Name"):
                    out["container"] = (c["Name"].lstrip("/"), "path")
            except (OSError, ValueError):
                pass
        return out
    # <pod>.log, <pod>.previous.log, <pod>_<container>.log as saved from kubectl logs
    name = parts[-1]
    for suf in (".gz", ".zst"):
        name = name.removesuffix(suf)
    m = re.fullmatch(r"(.+?)(?:\.previous|\.prev)?\.(?:log|txt|out)", name)
    if m:
        stem = m.group(1)
        if "_" in stem:
            pod, container = stem.split("_", 1)
            if POD_NAME_RE.match(pod):
                return {"pod": (pod, "path"), "container": (container, "path")}
        if POD_NAME_RE.match(stem):
            out["pod"] = (stem, "path")
        elif re.fullmatch(r"[a-z][a-z0-9-]*[a-z0-9]", stem) and stem not in GENERIC_STEMS:
            # translation-service.log: a file named after its service
            out["service"] = (stem, "path")
    return out


def config_labels(config: dict) -> Labels:
    """The `[labels]` table of pmortem.toml."""
    return {k: (str(v), "config") for k, v in (config.get("labels") or {}).items() if k in ENTITY_FIELDS}


def flag_labels(labels: dict[str, str]) -> Labels:
    """--service / --namespace / --pod / --container / --host."""
    return {k: (v, "flag") for k, v in labels.items() if v}


def source_labels(path: str, cfg: Labels, flags: Labels) -> Labels:
    """A source's labels: its path's, then the config's; flags fill what the path lacks."""
    labels = {**path_labels(path), **cfg}
    for k, v in flags.items():
        labels.setdefault(k, v)
    for k, v in cfg.items():
        labels.setdefault(k, v)
    return labels


def _pod_object_fill() -> str:
    """Events without a host or namespace take those of their pod's object (`kubectl get pod -o json`)."""
    return """
        UPDATE events SET
               host = coalesce(events.host, p.host),
               namespace = coalesce(events.namespace, p.namespace),
               entity_source = json_merge_patch(
                   coalesce(events.entity_source, '{}'),
                   json_object('host', CASE WHEN events.host IS NULL THEN 'pod_object' ELSE events.entity_source->>'host' END,
                               'namespace', CASE WHEN events.namespace IS NULL THEN 'pod_object' ELSE events.entity_source->>'namespace' END))
        FROM (SELECT pod, any_value(host) AS host, any_value(namespace) AS namespace FROM events
              WHERE kind = 'pod_spec' AND pod IS NOT NULL GROUP BY pod) p
        WHERE (events.host IS NULL OR events.namespace IS NULL) AND events.pod = p.pod
        """


def _source_summary(col: str) -> str:
    """A source's entity column: what its lines carried (comma-separated when several)."""
    indexed = f"SELECT source_id, {col} FROM line_index UNION ALL " if col != "namespace" else ""
    return f"""
        UPDATE sources SET {col} = v.val
        FROM (SELECT source_id, string_agg(DISTINCT {col}, ', ' ORDER BY {col}) AS val
              FROM ({indexed}SELECT source_id, {col} FROM events)
              WHERE {col} IS NOT NULL GROUP BY source_id) v
        WHERE sources.source_id = v.source_id AND sources.{col} IS NULL
        """


# a source's host: its own lines' (a pod object or a Kubernetes event names the node of another source's pod)
_SOURCE_HOST = """
    UPDATE sources SET host = v.val
    FROM (SELECT source_id, string_agg(DISTINCT host, ', ' ORDER BY host) AS val
          FROM events WHERE host IS NOT NULL AND kind NOT IN ('pod_spec', 'k8s_event', 'container_terminated')
          GROUP BY source_id) v
    WHERE sources.source_id = v.source_id AND sources.host IS NULL
    """

# Entities that only become known across sources, once all of a run's files are in, in order.
RESOLVE_STATEMENTS: tuple[str, ...] = (
    _pod_object_fill(),
    *(_source_summary(col) for col in ("service", "namespace", "pod", "container")),
    _SOURCE_HOST,
)
