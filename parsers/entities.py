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

import re
from pathlib import Path

from .events import ENTITY_FIELDS, K8S_SUFFIX

GENERIC_STEMS = {"app", "application", "server", "service", "output", "out", "log", "logs", "messages", "syslog", "stdout", "stderr", "main", "current", "debug", "error", "access", "combined", "all", "export", "dump", "container", "pod"}
POD_NAME_RE = re.compile(rf"^[a-z0-9][a-z0-9-]*-(?:{K8S_SUFFIX}{{6,10}}-{K8S_SUFFIX}{{5}}|{K8S_SUFFIX}{{5}}|\d{{1,4}})$")

Labels = dict[str, tuple[str, str]]  # field -> (value, origin)

# How people save files around the name that matters: an ordering number or a date in
# front (`01_`, `02-`, `2022-11-15_`), a rotation or a copy behind (`.1`, `.previous`, `.gz`,
# `-20221115`). Stripped before a name is looked at; `-old`/`-new`/`-bak` are kept in a file's
# own entity name (two files of one pod's past must not merge) but not in its service.
_EXT_RE = re.compile(r"(?:\.(?:log|txt|out|json|jsonl|ndjson|gz|zst|bz2|xz|zip|\d{1,3}|previous|prev|old|bak))+$")
_PREFIX_RE = re.compile(r"^(?:(?:\d{4}-?\d\d-?\d\d(?:[tT_ -]?\d\d[:-]?\d\d(?:[:-]?\d\d)?(?:\.\d+)?[zZ]?)?|\d{1,3})[_. -]+)+")
_DATE_SUFFIX_RE = re.compile(r"[._-](?:\d{8}(?:[tT_-]?\d{4,6})?|\d{4}-\d\d-\d\d(?:[tT_-]?[\d:-]{4,8})?|\d{10,13})$")
_COPY_SUFFIX_RE = re.compile(r"[._-](?:previous|prev|old|new|bak|backup|copy|orig|saved)$")
_NAME_RE = re.compile(r"[a-z][a-z0-9-]*[a-z0-9]")


def _stem(name: str) -> str:
    """A file name without its extension, rotation number, compression and ordering prefix."""
    stem = _EXT_RE.sub("", name)
    for _ in range(2):  # `app-20221115.log.1`, `01_2022-11-15_app.log`
        stem = _DATE_SUFFIX_RE.sub("", _PREFIX_RE.sub("", stem))
    return stem or name


def _bare(token: str) -> str:
    """A name without the copy / date suffixes people add to it (`reports-old` -> `reports`)."""
    prev = None
    while prev != token:
        prev = token
        token = _COPY_SUFFIX_RE.sub("", _DATE_SUFFIX_RE.sub("", token))
    return token


def find_pod(text: str, *, ordinal: bool = True) -> tuple[str, str | None] | None:
    """The first Kubernetes pod name (strict suffix check) among a name's `_`/space/`.`-separated
    parts, each without ordering prefix or copy suffix, and the part after it (a container,
    as kubectl users save `<pod>_<container>.log`)."""
    parts = [p for p in re.split(r"[_\s.]+", _stem(text).lower()) if p]
    for i, raw in enumerate(parts):
        tok = _bare(_PREFIX_RE.sub("", raw + "_").rstrip("_") or raw)
        if POD_NAME_RE.match(tok) and (ordinal or not re.search(r"-\d+$", tok)):
            nxt = parts[i + 1] if i + 1 < len(parts) else None
            return tok, (nxt if nxt and _NAME_RE.fullmatch(nxt) and not POD_NAME_RE.match(nxt) else None)
    return None


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
    if parts[-1].endswith("-json.log") or re.search(r"-json\.log\.\d+$", parts[-1]):
        from .docker import config_of, docker_labels

        return docker_labels(config_of(path))
    # a pod's name anywhere in the file name (`01_<pod>.log`, `<pod>_<container>.log`,
    # `<pod>.previous.log`, `<pod>-20221115.log.gz`), else in the nearest directory naming one
    found = find_pod(parts[-1])
    if found:
        out["pod"] = (found[0], "path")
        if found[1]:
            out["container"] = (found[1], "path")
        return out
    # (a directory's StatefulSet-like `<name>-<n>` is too often a tool's: `pytest-115`, `run-2`)
    for d in reversed(parts[-3:-1]):
        found = find_pod(d, ordinal=False) if d not in ("/", ".", "..") else None
        if found:
            out["pod"] = (found[0], "path")
            break
    # translation-service.log, 01_reports-old.log: a file named after its service
    svc = _bare(_stem(parts[-1]).lower())
    if _NAME_RE.fullmatch(svc) and svc not in GENERIC_STEMS:
        out["service"] = (svc, "path")
    return out


def file_entity(path: str) -> str | None:
    """What a source is called when nothing names its pod: its file's name (without
    extension, rotation number or ordering prefix; a generic name like `app.log` with its
    directory's), so two files are never one blank entity."""
    if path == "-":
        return "stdin"
    p = Path(path)
    # a docker json-file without its config.v2.json: the container's short id, as `docker ps`
    # shows it (not `<64 hex>-json`)
    m = re.fullmatch(r"([0-9a-f]{64})-json\.log(?:\.\d+)?", p.name)
    if m:
        return m.group(1)[:12]
    stem = _stem(p.name)
    if stem.lower() in GENERIC_STEMS and p.parent.name not in ("", ".", "/"):
        return f"{_stem(p.parent.name)}/{stem}"
    return stem


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
    if "pod" not in labels and (name := file_entity(path)):
        # the file's own entity, the weakest of all: lines naming a pod win (events.py), and
        # a source whose lines name one pod takes it for all its rows (RESOLVE_STATEMENTS)
        labels["pod"] = (name, "file")
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


# A source named after its file (no pod in its path, flags or config) whose lines name exactly
# one pod (a kubectl --prefix, a pino `hostname`): that pod is the source's entity, for the
# rows that named none too (continuation-less lines, the line index), with that pod's service.
_NAMED_BY_LINES = """
    CREATE OR REPLACE TEMP TABLE _named_by_lines AS
    SELECT e.source_id, min(e.pod) AS pod, mode(e.service) AS service
    FROM events e JOIN sources s ON s.source_id = e.source_id
    WHERE s.entity_source->>'pod' = 'file' AND e.pod IS NOT NULL
      AND e.entity_source->>'pod' IN ('envelope', 'payload')
    GROUP BY e.source_id HAVING count(DISTINCT e.pod) = 1
    """


def _take_named_pod(table: str) -> str:
    where = "n.source_id = t.source_id AND t.pod IS DISTINCT FROM n.pod"
    if table == "events":
        return f"""
            UPDATE events t SET pod = n.pod, service = coalesce(n.service, t.service),
                   entity_source = json_merge_patch(coalesce(t.entity_source, '{{}}'), json_object('pod', 'source_lines')),
                   dedup_key = hash(n.pod, coalesce(t.container, ''), t.ts, t.message)
            FROM _named_by_lines n WHERE {where} AND t.entity_source->>'pod' = 'file'
            """
    return f"""
        UPDATE {table} t SET pod = n.pod, service = coalesce(n.service, t.service)
        FROM _named_by_lines n WHERE {where}
        """


def _source_summary(col: str) -> str:
    """A source's entity column: what its lines carried (comma-separated when several); it
    replaces what only the file's name said (origin path or file)."""
    indexed = f"SELECT source_id, {col} FROM line_index UNION ALL " if col != "namespace" else ""
    return f"""
        UPDATE sources SET {col} = v.val
        FROM (SELECT source_id, string_agg(DISTINCT {col}, ', ' ORDER BY {col}) AS val
              FROM ({indexed}SELECT source_id, {col} FROM events)
              WHERE {col} IS NOT NULL GROUP BY source_id) v
        WHERE sources.source_id = v.source_id
          AND (sources.{col} IS NULL OR (coalesce(sources.entity_source->>'{col}', '') IN ('path', 'file') AND sources.{col} <> v.val))
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
    _NAMED_BY_LINES,
    *(_take_named_pod(t) for t in ("events", "line_index", "lines")),
    "DROP TABLE _named_by_lines",
    _pod_object_fill(),
    *(_source_summary(col) for col in ("service", "namespace", "pod", "container")),
    _SOURCE_HOST,
)
