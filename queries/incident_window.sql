-- incident_window.sql: where the incident is, when no --since/--until is given.
--
-- Measures: the densest island of "bad" events (worker exits, classified errors, error spans),
-- minutes joined into one island while the gap between busy minutes is at most $gap_min minutes.
-- The island holding the busiest minute wins.
-- Parameters: $service (VARCHAR or NULL: only pods/services of that name), $gap_min (INTEGER, minutes).
-- Columns: first_bad, last_bad (TIMESTAMPTZ, first and last bad event of the island),
--          bad_events (count), deaths (worker_exit count), errors (error events + error spans),
--          pods (distinct pods with bad events), peak_minute (TIMESTAMPTZ), peak_minute_events (count).
-- Duplicates (the same line seen through two exports) count once. Run with SET TimeZone = 'UTC'.
WITH bad AS (
    SELECT DISTINCT kind, pod, ts, message, span_id
    FROM events
    WHERE ts IS NOT NULL
      AND (kind = 'worker_exit'
           OR (kind = 'error' AND error_class IS NOT NULL)
           OR (kind = 'span' AND status = 2)
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
