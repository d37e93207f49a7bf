"""Only what a rule asks for becomes an event (issue 18.6).

A line holding a prefilter literal (here `worker`, in a Java thread name) that no catalogue
rule claims is a line of the line index, not a `log` event; on the native (kubectl) path and
the polars path (a plain file) alike."""

from __future__ import annotations

import pytest

KUBECTL = (
    "[pod/billing-svc-5c6d7f8b9-h7g6f/billing] 2022-04-08T20:00:00.001Z 20:00:00.001 [worker-pool-3] INFO  c.e.billing.LedgerSync - synced 12 ledger entries\n"
    "[pod/billing-svc-5c6d7f8b9-h7g6f/billing] 2022-04-08T20:00:00.002Z 20:00:00.002 [worker-pool-4] INFO  c.e.billing.LedgerSync - synced 3 ledger entries\n"
    "[pod/billing-svc-5c6d7f8b9-h7g6f/billing] 2022-04-08T20:00:00.003Z Worker 4243 started\n"
    "[pod/billing-svc-5c6d7f8b9-h7g6f/billing] 2022-04-08T20:00:00.004Z 20:00:00.004 [worker-pool-3] ERROR c.e.billing.LedgerSync - ledger sync failed\n"
    "[pod/billing-svc-5c6d7f8b9-h7g6f/billing] 2022-04-08T20:00:00.005Z 20:00:00.005 [main] INFO  c.e.billing.App - cache warmed\n"
)
PLAIN = "".join(line.split("] ", 1)[1].split(" ", 1)[1].replace("20:00:00", "2022-04-08 20:00:00") for line in KUBECTL.splitlines(keepends=True))


@pytest.mark.parametrize("name,text", [("billing.log", KUBECTL), ("plain.log", PLAIN)])
def test_prefilter_hit_without_rule_is_a_line_not_an_event(cli, tmp_path, name, text):
    f = tmp_path / name
    f.write_text(text)
    cli.ok("ingest", str(f))
    kinds = sorted(cli.sql("SELECT kind, level FROM events"))
    # the rule's worker_start and the error-level line; not the two `worker-pool` INFO lines
    assert kinds == [("log", "error"), ("worker_start", None)] or kinds == [("log", "error"), ("worker_start", "info")], kinds
    assert not cli.sql("SELECT 1 FROM events WHERE message LIKE '%synced%'")
    # every line is in the line index, and the sources' accounting still adds up
    assert cli.sql("SELECT sum(lines) FROM line_index")[0][0] == 5
    (lines, generic, events, folded, rejected), = cli.sql("SELECT lines, lines_generic, events, lines_folded, lines_rejected FROM sources")
    assert (lines, events) == (5, 2)
    assert lines == generic + events + folded + rejected
