-- incident_window.sql: where the incident is, when no --since/--until is given.
--
-- Measures: the densest island of "bad" events, i.e. impact: worker exits (not clean ones, exit code 0),
-- classified errors and error- or fatal-level lines, error spans, 5xx responses, event-loop blocks;
-- minutes joined into one island while the gap between busy minutes is at most $gap_min minutes.
-- The island holding the busiest minute wins.
-- Parameters: $service (VARCHAR or NULL: only pods/services of that name), $gap_min (INTEGER, minutes).
-- Columns: first_bad, last_bad (TIMESTAMPTZ, first and last bad event of the island),
--          bad_events (count), deaths (worker_exit count), errors (error events and lines, error spans, 5xx),
--          pods (distinct pods with bad events), peak_minute (TIMESTAMPTZ), peak_minute_events (count).
-- Graceful stops are not deaths: worker exits with code 0, exits the log calls graceful, and
-- SIGTERM/SIGINT/SIGQUIT/SIGHUP exits within 60 s after the pod logged a shutdown are left out.
-- Duplicates (the same line seen through two exports) count once. Run with SET TimeZone = 'UTC'.
WITH bad AS (
    -- events by source and line: no DISTINCT, which would merge distinct same-second events
    -- (ingest already stores a line seen through two exports once)
    SELECT kind, pod, ts, message, span_id, source_id, line_no
    FROM events
    WHERE ts IS NOT NULL
      AND ((kind = 'worker_exit' AND NOT coalesce(events.exit_code = 0 OR lower(events.attrs->>'exit_mode') = 'graceful'
                 OR (events.signal IN ('SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP')
                     AND EXISTS (SELECT 1 FROM events sd WHERE sd.kind = 'shutdown' AND sd.pod IS NOT DISTINCT FROM events.pod
                                 AND sd.ts BETWEEN events.ts - INTERVAL 60 SECOND AND events.ts)), false))
           OR (kind = 'error' AND error_class IS NOT NULL)
           OR (kind NOT IN ('span', 'http_request', 'worker_exit', 'pod_spec') AND level IN ('error', 'fatal'))
           OR (kind = 'span' AND status = 2)
           OR (kind = 'http_request' AND status >= 500)
           OR (kind = 'event_loop_lag' AND duration_ms >= 500))
      AND ($service::VARCHAR IS NULL OR starts_with(pod, $service::VARCHAR || '-')
           OR service IN ($service::VARCHAR, $service::VARCHAR || '-service'))
),
per_min AS (
    SELECT date_trunc('minute', ts) AS m, count(*) AS n FROM bad GROUP BY 1
),
islands AS (
    SELECT m, n,
           sum(CASE WHEN prev_m IS NOT NULL AND m - prev_m > to_minutes($gap_min::INTEGER) THEN 1 ELSE 0 END)
               OVER (ORDER BY m) AS island
    FROM (SELECT m, n, lag(m) OVER (ORDER BY m) AS prev_m FROM per_min)
),
peak AS (
    SELECT m, n, island FROM islands ORDER BY n DESC, m DESC LIMIT 1
)
SELECT min(b.ts) AS first_bad,
       max(b.ts) AS last_bad,
       count(*) AS bad_events,
       count(*) FILTER (WHERE b.kind = 'worker_exit') AS deaths,
       count(*) FILTER (WHERE b.kind <> 'worker_exit') AS errors,
       count(DISTINCT b.pod) AS pods,
       any_value(peak.m) AS peak_minute,
       any_value(peak.n) AS peak_minute_events
FROM bad b
JOIN islands i ON date_trunc('minute', b.ts) = i.m
JOIN peak ON i.island = peak.island;
