-- paired_errors.sql: server-side errors paired with the client-side errors they are the other view of.
--
-- Measures: each server error of class $server_class (e.g. Java `Response is closed`) is linked to a
-- client-side error of $client_classes (error spans such as `context cancelled`, client error lines
-- such as read timeouts), trying in order: the trace id (the server line's trace=/trace_id=, the span's
-- trace id) -> the client address (server line's client=IP against a pod's IP, when pod objects give it)
-- -> the caller's service name (server line's caller=/service=) -> time alone (the nearest client error
-- within $tolerance_s, two ASOF joins: before and after). A failed call that is both an error span and a
-- caller log line ("... context cancelled after 1001 ms") counts once: client error lines are used only
-- for pods that export no spans. Each pair is then aligned with the nearest
-- worker death in the calling pod (ASOF join, within $tolerance_s).
-- Parameters: $since, $until (TIMESTAMPTZ), $tolerance_s (DOUBLE seconds), $server_class (VARCHAR),
--   $client_classes (VARCHAR, comma-separated).
-- Columns, one row per server error: server_ts, server_service (from the event or its file name),
--   server_source_id, server_line, server_message, link (trace_id | address | service | time | NULL =
--   unpaired), link_confidence (0-1), client_ts (TIMESTAMPTZ, when the client error happened: span end),
--   client_pod, client_service, client_class, client_source_id, client_line, client_message (as logged:
--   the quote for file:line; client_class says which error it is),
--   offset_s (server_ts - client_ts, seconds: its median across pairs shows clock skew + latency),
--   caller_pod (client_pod, or the pod of any span with the same trace id), nearest_death_ts, death_pod,
--   death_pod_basis (caller_pod | any_pod: caller unknown, nearest death in any pod),
--   death_offset_s (server_ts - nearest death in caller_pod, seconds), death_aligned (|death_offset_s| <=
--   $tolerance_s). Extra row count = client errors: see client_errors_total (same on every row).
WITH ev AS (
    SELECT e.*, coalesce(e.service, regexp_extract(s.path, '([^/]+?)(?:\.log)?(?:\.(?:gz|zst))?$', 1)) AS svc
    FROM events e JOIN sources s USING (source_id)
    WHERE e.ts >= $since::TIMESTAMPTZ AND e.ts < $until::TIMESTAMPTZ
      AND e.kind IN ('error', 'span', 'worker_exit')
      AND NOT (e.kind = 'worker_exit' AND coalesce(e.exit_code = 0 OR lower(e.attrs->>'exit_mode') = 'graceful'
                 OR (e.signal IN ('SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP')
                     AND {'p': e.pod, 't': e.ts} IN (  -- exits within 60 s after their pod's shutdown: one join, not a subquery per row
                         SELECT DISTINCT {'p': x.pod, 't': x.ts} FROM events x JOIN events sd
                           ON sd.kind = 'shutdown' AND sd.pod IS NOT DISTINCT FROM x.pod AND sd.ts BETWEEN x.ts - INTERVAL 60 SECOND AND x.ts
                         WHERE x.kind = 'worker_exit' AND x.signal IN ('SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP'))), false))  -- a graceful stop is no death
    QUALIFY row_number() OVER (PARTITION BY e.kind, e.pod, e.ts, e.message, e.span_id
                               ORDER BY e.host IS NULL, e.source_id, e.line_no) = 1
),
spans AS (
    SELECT * FROM ev WHERE kind = 'span'
    QUALIFY row_number() OVER (PARTITION BY span_id ORDER BY source_id, line_no) = 1
),
pod_ips AS (
    SELECT DISTINCT pod, attrs->>'pod_ip' AS ip FROM events
    WHERE kind = 'pod_spec' AND attrs->>'pod_ip' IS NOT NULL
),
server AS (
    -- sk: one key per server error. (source_id, line_no) is not one: the hits of a one-line
    -- Elasticsearch export all sit on line 1 of their file
    SELECT row_number() OVER (ORDER BY ts, source_id, line_no, message) AS sk, ts, svc, source_id, line_no, message,
           nullif(regexp_extract(message, '(?i)trace(?:[_-]?id)?["=: ]+([0-9a-f]{16,32})', 1), '') AS trace_x,
           nullif(regexp_extract(message, '(?i)(?:client|remote(?:_addr)?|peer)[=: ]+\[?([0-9a-f.:]+?)\]?(?::\d+)?(?:\s|,|$)', 1), '') AS client_ip,
           nullif(regexp_extract(message, '(?i)(?:caller|client[_-]service|service)[=: ]+([a-z][\w.-]*)', 1), '') AS caller_svc
    FROM ev WHERE kind = 'error' AND error_class = $server_class::VARCHAR
),
client AS (
    SELECT ts + to_microseconds(CAST(coalesce(duration_ms, 0) * 1000 AS BIGINT)) AS ts,
           pod, svc, error_class, trace_id, source_id, line_no,
           coalesce(message, attrs->>'status_message', error_class) AS message
    FROM spans
    WHERE status = 2 AND list_contains(string_split($client_classes::VARCHAR, ','), coalesce(error_class, ''))
    UNION ALL
    SELECT ts, pod, svc, error_class, trace_id, source_id, line_no, message FROM ev
    WHERE kind = 'error' AND pod IS NOT NULL
      AND list_contains(string_split($client_classes::VARCHAR, ','), error_class)
      -- a failed call is one error: its span when the pod exports spans, else its log line
      AND pod NOT IN (SELECT pod FROM spans WHERE pod IS NOT NULL)
),
by_trace AS (
    SELECT s.*, c.ts AS c_ts, c.pod AS c_pod, c.svc AS c_svc, c.error_class AS c_class,
           c.source_id AS c_src, c.line_no AS c_line, c.message AS c_msg, 'trace_id' AS link, 0.95 AS conf
    FROM server s JOIN client c ON c.trace_id = s.trace_x
    QUALIFY row_number() OVER (PARTITION BY s.sk ORDER BY abs(epoch(s.ts - c.ts)), c.ts, c.source_id, c.line_no) = 1
),
rest1 AS (SELECT * FROM server s WHERE NOT EXISTS (SELECT 1 FROM by_trace b WHERE b.sk = s.sk)),
by_addr AS (
    SELECT s.*, c.ts AS c_ts, c.pod AS c_pod, c.svc AS c_svc, c.error_class AS c_class,
           c.source_id AS c_src, c.line_no AS c_line, c.message AS c_msg, 'address' AS link, 0.8 AS conf
    FROM rest1 s JOIN pod_ips p ON p.ip = s.client_ip JOIN client c ON c.pod = p.pod
    WHERE abs(epoch(s.ts - c.ts)) <= $tolerance_s::DOUBLE
    QUALIFY row_number() OVER (PARTITION BY s.sk ORDER BY abs(epoch(s.ts - c.ts)), c.ts, c.source_id, c.line_no) = 1
),
rest2 AS (SELECT * FROM rest1 s WHERE NOT EXISTS (SELECT 1 FROM by_addr b WHERE b.sk = s.sk)),
by_svc AS (
    SELECT s.*, c.ts AS c_ts, c.pod AS c_pod, c.svc AS c_svc, c.error_class AS c_class,
           c.source_id AS c_src, c.line_no AS c_line, c.message AS c_msg, 'service' AS link, 0.7 AS conf
    FROM rest2 s JOIN client c ON c.svc IN (s.caller_svc, s.caller_svc || '-service')
    WHERE abs(epoch(s.ts - c.ts)) <= $tolerance_s::DOUBLE
    QUALIFY row_number() OVER (PARTITION BY s.sk ORDER BY abs(epoch(s.ts - c.ts)), c.ts, c.source_id, c.line_no) = 1
),
rest3 AS (SELECT * FROM rest2 s WHERE NOT EXISTS (SELECT 1 FROM by_svc b WHERE b.sk = s.sk)),
client_sorted AS (SELECT * FROM client WHERE ts IS NOT NULL),
before AS (SELECT s.sk AS ssk, c.* FROM rest3 s ASOF JOIN client_sorted c ON s.ts >= c.ts),
after AS (SELECT s.sk AS ssk, c.* FROM rest3 s ASOF JOIN client_sorted c ON s.ts <= c.ts),
by_time AS (
    SELECT s.*, c.ts AS c_ts, c.pod AS c_pod, c.svc AS c_svc, c.error_class AS c_class,
           c.source_id AS c_src, c.line_no AS c_line, c.message AS c_msg, 'time' AS link, 0.5 AS conf
    FROM rest3 s
    JOIN (SELECT * FROM before UNION ALL SELECT * FROM after) c ON c.ssk = s.sk
    WHERE abs(epoch(s.ts - c.ts)) <= $tolerance_s::DOUBLE
    QUALIFY row_number() OVER (PARTITION BY s.sk ORDER BY abs(epoch(s.ts - c.ts)), c.ts, c.source_id, c.line_no) = 1
),
paired AS (
    SELECT * FROM by_trace UNION ALL SELECT * FROM by_addr UNION ALL SELECT * FROM by_svc UNION ALL SELECT * FROM by_time
),
all_server AS (
    SELECT s.*, p.c_ts, p.c_pod, p.c_svc, p.c_class, p.c_src, p.c_line, p.c_msg, p.link, p.conf,
           coalesce(p.c_pod, (SELECT any_value(sp.pod) FROM spans sp WHERE sp.trace_id = s.trace_x)) AS caller_pod
    FROM server s LEFT JOIN paired p ON p.sk = s.sk
),
deaths AS (SELECT pod, ts FROM ev WHERE kind = 'worker_exit'),
d_before AS (SELECT a.sk AS ssk, d.ts, d.pod FROM all_server a ASOF JOIN deaths d ON a.caller_pod = d.pod AND a.ts >= d.ts),
d_after AS (SELECT a.sk AS ssk, d.ts, d.pod FROM all_server a ASOF JOIN deaths d ON a.caller_pod = d.pod AND a.ts <= d.ts),
-- caller unknown: the nearest death in any pod (weaker, said so by death_pod_basis)
d_any_before AS (SELECT a.sk AS ssk, d.ts, d.pod FROM (SELECT * FROM all_server WHERE caller_pod IS NULL) a ASOF JOIN deaths d ON a.ts >= d.ts),
d_any_after AS (SELECT a.sk AS ssk, d.ts, d.pod FROM (SELECT * FROM all_server WHERE caller_pod IS NULL) a ASOF JOIN deaths d ON a.ts <= d.ts),
nearest_death AS (
    SELECT ssk, x.ts, x.pod FROM (SELECT * FROM d_before UNION ALL SELECT * FROM d_after
                                       UNION ALL SELECT * FROM d_any_before UNION ALL SELECT * FROM d_any_after) x
    JOIN all_server a ON a.sk = x.ssk
    QUALIFY row_number() OVER (PARTITION BY ssk ORDER BY abs(epoch(a.ts - x.ts)), x.ts, x.pod) = 1
)
SELECT a.ts AS server_ts, a.svc AS server_service, a.source_id AS server_source_id, a.line_no AS server_line,
       a.message AS server_message, a.link, a.conf AS link_confidence,
       a.c_ts AS client_ts, a.c_pod AS client_pod, a.c_svc AS client_service, a.c_class AS client_class,
       a.c_src AS client_source_id, a.c_line AS client_line, a.c_msg AS client_message,
       round(epoch(a.ts - a.c_ts), 3) AS offset_s,
       a.caller_pod, nd.ts AS nearest_death_ts, nd.pod AS death_pod,
       CASE WHEN a.caller_pod IS NOT NULL THEN 'caller_pod' WHEN nd.pod IS NOT NULL THEN 'any_pod' END AS death_pod_basis,
       round(epoch(a.ts - nd.ts), 3) AS death_offset_s,
       coalesce(abs(epoch(a.ts - nd.ts)) <= $tolerance_s::DOUBLE, false) AS death_aligned,
       (SELECT count(*) FROM client) AS client_errors_total
FROM all_server a
LEFT JOIN nearest_death nd ON nd.ssk = a.sk
ORDER BY a.ts, a.source_id, a.line_no, a.sk;
