"""Issue 13.3: session loss across workers (samples/session: Node.js cluster with in-memory sessions
per worker behind a real nginx; a 1-worker control). Expected values from expected.json and,
independently, from the raw app log read here in plain Python.

Ingest notes: nginx's error.log has zone-less Europe/Berlin wall-clock times (`2026/12/04 01:09:07`,
one hour ahead of UTC), which only --tz can place; access.log carries its own +0100. The pods come
from the file names, with no --pod: `account-web-5c9f7b6d8-q7w2e` fails the strict Kubernetes suffix
check (a vowel in `q7w2e`) and is still taken as the pod."""

from __future__ import annotations

import datetime as dt
import json
import re

from conftest import SAMPLES, require

BUNDLE = SAMPLES / "session"
LINE = re.compile(r"^(\S+) \w+: \[worker (\d+)\] (GET|POST) (\S+) (\d{3})(?: user=(\S+))? sid=([0-9a-f]+)")


def raw_truth(pod: str) -> dict:
    """Join the login (first success of a sid) and the 401 lines on sid, in plain Python."""
    login, user, last_ok = {}, {}, {}
    denied = cross = 0
    affected, first = set(), None
    for line in require(BUNDLE / f"{pod}.log").read_text().splitlines():
        m = LINE.match(line)
        if not m:
            continue
        ts, pid, _, _, status, usr, sid = m.groups()
        pid = int(pid)
        if int(status) < 400:
            login.setdefault(sid, pid)
            user.setdefault(sid, usr)
            last_ok.setdefault(sid, set()).add(pid)
        elif status in ("401", "403"):
            denied += 1
            if sid in login and login[sid] != pid:
                cross += 1
                affected.add(user[sid])
                first = first or ts
    return {"denied": denied, "cross": cross, "users_affected": len(affected), "first": first, "logins": len(login),
            "users": len(set(user.values()))}


def test_session_loss_across_workers(cli):
    exp = json.loads((BUNDLE / "expected.json").read_text())
    k = exp["key_numbers"]["mem"]
    pod, ctrl = exp["entity"]["pod"], exp["healthy_control"]["pod"]
    raw = raw_truth(pod)
    assert (raw["denied"], raw["cross"], raw["users_affected"]) == (k["unauthorized_401"], k["401_on_a_different_pid_than_login"], k["users_affected"])
    cli.ok("ingest", str(BUNDLE / "access.log"), str(BUNDLE / "error.log"), "--tz", "Europe/Berlin", "-q")
    cli.ok("ingest", str(BUNDLE / f"{pod}.log"), str(BUNDLE / f"{ctrl}.log"), "-q")
    pods = {s["path"].rsplit("/", 1)[-1]: s["pod"] for s in cli.sources()}
    assert pods[f"{pod}.log"] == pod and pods[f"{ctrl}.log"] == ctrl
    # --tz placed error.log's zone-less Berlin times: nginx's first notice is 1 s before its first request
    (err_first,), (acc_first,) = (cli.sql(f"SELECT min(e.ts) FROM events e JOIN sources s USING (source_id) "
                                         f"WHERE s.path LIKE '%/{f}'")[0] for f in ("error.log", "access.log"))
    assert dt.timedelta(0) <= acc_first - err_first <= dt.timedelta(seconds=5), (err_first, acc_first)
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    by_id = {f["id"]: f for f in rep["findings"]}
    root = by_id[rep["root_cause"]]
    assert root["rule"] == exp["root_cause"] == "session_loss_across_workers" and root["entity"]["pod"] == pod
    onset = dt.datetime.fromisoformat(exp["onset"].replace("Z", "+00:00"))
    start = dt.datetime.fromisoformat(root["start"].replace("Z", "+00:00"))
    assert abs((start - onset).total_seconds()) <= 2
    assert abs((start - dt.datetime.fromisoformat(raw["first"].replace("Z", "")[:26] + "+00:00")).total_seconds()) <= 0.01
    m = root["metrics"]
    assert m["denied"] == m["denied_cross_pid"] == raw["denied"] == k["unauthorized_401"]
    assert m["denied_not_login_pid"] == raw["cross"] == k["401_on_a_different_pid_than_login"]
    assert m["users_affected"] == raw["users_affected"] and m["users"] == raw["users"] == k["users"]
    assert m["logins"] == raw["logins"] == k["logins"] and m["pids"] == k["workers"]
    assert m["share_of_page_views_denied"] == k["share_of_page_views_401"]
    assert "POST /login" in root["evidence"][0]["text"] and "401" in root["evidence"][1]["text"]
    assert any(r["id"] == "share_session_store" for r in rep["recommendations"])
    # the 1-worker control raises nothing above info
    assert not [f for f in rep["findings"] if f["entity"]["pod"] == ctrl and f["severity"] != "info"]
