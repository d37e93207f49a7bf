"""Docker's config.v2.json State as the container's end (issue 12, "What to build" 1):
samples/heap-oom, where one container was OOM-killed (exit 137, State.OOMKilled) without a
line of its own. What is expected is read from each container's config.v2.json here."""

from __future__ import annotations

import json
from datetime import datetime

from conftest import SAMPLES, require

HEAP = SAMPLES / "heap-oom"


def _configs() -> dict[str, dict]:
    root = require(HEAP / "var" / "lib" / "docker" / "containers")
    return {d.name: json.loads((d / "config.v2.json").read_text()) for d in root.iterdir() if (d / "config.v2.json").exists()}


def test_killed_container_appears_as_container_terminated(cli):
    cfgs = _configs()
    files = sorted(str(p) for p in (HEAP / "var").rglob("*-json.log"))
    assert len(files) == len(cfgs) == 3
    cli.ok("ingest", *files, "-q")
    got = {
        r[0]: r[1:]
        for r in cli.sql(
            "SELECT pod, container, exit_code, coalesce(error_class, ''), ts, attrs->>'container_id' FROM events WHERE kind = 'container_terminated'"
        )
    }
    want = {}
    for cid, c in cfgs.items():
        st, lab = c["State"], c["Config"]["Labels"]
        if st["Running"]:
            continue
        want[lab["io.kubernetes.pod.name"]] = (
            lab["io.kubernetes.container.name"],
            st["ExitCode"],
            "oom_killed" if st["OOMKilled"] else "",
            datetime.fromisoformat(st["FinishedAt"][:26] + "+00:00"),
            cid,
        )
    assert got == want
    # the one OOM kill: exit 137 and OOMKilled, which no line of that container says
    (oom,) = [p for p, w in want.items() if w[2] == "oom_killed"]
    assert want[oom][1] == 137
    assert cli.sql(f"SELECT count(*) FROM events WHERE pod = '{oom}' AND kind <> 'container_terminated' AND message ILIKE '%oom%'") == [(0,)]
    # the running healthy container has no end; every source's counter matches its rows
    for s in cli.sources():
        assert cli.sql(f"SELECT count(*) FROM events WHERE source_id = {s['source_id']}") == [(s["events"],)]


def test_docker_state_is_stored_once_across_runs(cli):
    files = sorted(str(p) for p in (HEAP / "var").rglob("*-json.log"))
    cli.ok("ingest", *files, "-q")
    cli.ok("ingest", *files, "-q")
    assert cli.sql("SELECT count(*) FROM events WHERE kind = 'container_terminated'") == [(2,)]
