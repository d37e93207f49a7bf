-- impact.sql: the observed impact in the window, the yardstick a root cause is measured against.
--
-- Measures, over the window, per pod (NULL: lines that name no pod, e.g. a proxy's), the events
-- that hurt: worker deaths (worker exits that are not a graceful stop: exit code 0, an exit the
-- log calls graceful, or SIGTERM/SIGINT/SIGQUIT/SIGHUP after the pod logged a shutdown within
-- 60 s), timeouts (error events of class upstream_timeout or read_timeout), 5xx responses
-- (http_request events with status >= 500, 504s included), and other errors (classified error
-- events that are not timeouts; stack fragments not counted). Events, not lines: one event per (source, line); the same line
-- seen through two exports (same kind, pod, time, text and occurrence) counts once.
-- Parameters: $since, $until (TIMESTAMPTZ window).
-- Columns: pod, deaths, timeouts, http_5xx, errors (counts), first_impact (TIMESTAMPTZ, first of them),
--   first_deaths, first_timeouts, first_http_5xx, first_errors (TIMESTAMPTZ, the first of each kind:
--   a root cause must precede the impact it explains).
-- Run with SET TimeZone = 'UTC'.
WITH raw AS (
    SELECT *, row_number() OVER (PARTITION BY source_id, kind, pod, ts, message ORDER BY line_no) AS occ
    FROM events
    WHERE ts >= $since::TIMESTAMPTZ AND ts < $until::TIMESTAMPTZ
      AND kind IN ('worker_exit', 'error', 'http_request', 'shutdown')
),
ev AS (
    SELECT * FROM raw
    QUALIFY row_number() OVER (PARTITION BY kind, pod, ts, message, occ ORDER BY source_id, line_no) = 1
),
shutdowns AS (SELECT pod, ts FROM ev WHERE kind = 'shutdown'),
exits AS (
    SELECT x.pod, x.ts,
           coalesce(x.exit_code = 0 OR x.attrs->>'exit_mode' = 'graceful'
                    OR (x.signal IN ('SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP')
                        AND EXISTS (SELECT 1 FROM shutdowns s WHERE s.pod IS NOT DISTINCT FROM x.pod
                                    AND s.ts <= x.ts AND s.ts >= x.ts - INTERVAL 60 SECOND)), false) AS graceful
    FROM ev x WHERE x.kind = 'worker_exit'
),
hurt AS (
    SELECT pod, ts, 'deaths' AS what FROM exits WHERE NOT graceful
    UNION ALL SELECT pod, ts, 'timeouts' FROM ev WHERE kind = 'error' AND error_class IN ('upstream_timeout', 'read_timeout')
    UNION ALL SELECT pod, ts, 'http_5xx' FROM ev WHERE kind = 'http_request' AND status >= 500
    UNION ALL SELECT pod, ts, 'errors' FROM ev
        WHERE kind = 'error' AND error_class IS NOT NULL AND error_class NOT IN ('upstream_timeout', 'read_timeout')
          -- a stack or error-object fragment (`  code: 'EMFILE',`, `Caused by: ...`) is part of the error above it
          AND NOT regexp_matches(coalesce(message, ''), '^(?:\s|\}|\]|\)|Caused by: |\.\.\. \d+ more)')
)
SELECT pod,
       count(*) FILTER (WHERE what = 'deaths') AS deaths,
       count(*) FILTER (WHERE what = 'timeouts') AS timeouts,
       count(*) FILTER (WHERE what = 'http_5xx') AS http_5xx,
       count(*) FILTER (WHERE what = 'errors') AS errors,
       min(ts) AS first_impact,
       min(ts) FILTER (WHERE what = 'deaths') AS first_deaths,
       min(ts) FILTER (WHERE what = 'timeouts') AS first_timeouts,
       min(ts) FILTER (WHERE what = 'http_5xx') AS first_http_5xx,
       min(ts) FILTER (WHERE what = 'errors') AS first_errors
FROM hurt
GROUP BY pod
ORDER BY pod NULLS FIRST;
