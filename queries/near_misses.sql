-- near_misses.sql: earlier pod starts that saw the same trigger value, and what happened next.
--
-- Measures, for every start of the service outside the window whose CPU-count line shows
-- $cpu_count (the trigger value), the worker deaths in that pod during the next $after_s seconds,
-- the worst second, when the deaths stopped, and the next start of the service on another pod
-- (its host and CPU count: the replica that replaced it, e.g. rescheduled to a normal host).
-- Parameters: $since, $until (TIMESTAMPTZ, the incident window to exclude), $cpu_count (INTEGER),
--   $after_s (INTEGER seconds to look ahead), $service (VARCHAR or NULL).
-- Columns: ts (TIMESTAMPTZ, the CPU-count line), pod, host, cpu_count, source_id, line_no, message,
--   deaths, starts (worker starts), peak_deaths_per_s, last_death (TIMESTAMPTZ), spiral_s (seconds from
--   the CPU-count line to the last death), next_pod, next_host, next_cpu_count, next_ts (TIMESTAMPTZ).
WITH cpu AS (
    SELECT * FROM events
    WHERE kind = 'cpu_count' AND ts IS NOT NULL AND pod IS NOT NULL
      AND coalesce(attrs->>'basis', '') <> 'worker_count'
      AND ($service::VARCHAR IS NULL OR starts_with(pod, $service::VARCHAR || '-')
           OR service IN ($service::VARCHAR, $service::VARCHAR || '-service'))
    QUALIFY row_number() OVER (PARTITION BY pod, ts, message ORDER BY host IS NULL, source_id, line_no) = 1
),
hits AS (
    SELECT * FROM cpu
    WHERE cpu_count = $cpu_count::INTEGER
      AND NOT (ts >= $since::TIMESTAMPTZ AND ts < $until::TIMESTAMPTZ)
),
life AS (
    SELECT kind, pod, ts, message, source_id, line_no FROM events  -- events, not DISTINCT texts
    WHERE kind IN ('worker_exit', 'worker_start') AND pod IN (SELECT pod FROM hits)
      AND NOT (kind = 'worker_exit' AND coalesce(events.exit_code = 0 OR lower(events.attrs->>'exit_mode') = 'graceful'
                 OR (events.signal IN ('SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP')
                     AND {'p': events.pod, 't': events.ts} IN (  -- exits within 60 s after their pod's shutdown: one join, not a subquery per row
                         SELECT DISTINCT {'p': x.pod, 't': x.ts} FROM events x JOIN events sd
                           ON sd.kind = 'shutdown' AND sd.pod IS NOT DISTINCT FROM x.pod AND sd.ts BETWEEN x.ts - INTERVAL 60 SECOND AND x.ts
                         WHERE x.kind = 'worker_exit' AND x.signal IN ('SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP'))), false))  -- a graceful stop is no death
)
SELECT *, round(epoch(last_death - ts), 1) AS spiral_s FROM (
SELECT h.ts, h.pod, h.host, h.cpu_count, h.source_id, h.line_no, h.message,
       (SELECT count(*) FROM life l WHERE l.pod = h.pod AND l.kind = 'worker_exit'
          AND l.ts BETWEEN h.ts AND h.ts + to_seconds($after_s::INTEGER)) AS deaths,
       (SELECT count(*) FROM life l WHERE l.pod = h.pod AND l.kind = 'worker_start'
          AND l.ts BETWEEN h.ts AND h.ts + to_seconds($after_s::INTEGER)) AS starts,
       (SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM life l WHERE l.pod = h.pod AND l.kind = 'worker_exit'
          AND l.ts BETWEEN h.ts AND h.ts + to_seconds($after_s::INTEGER) GROUP BY date_trunc('second', l.ts))) AS peak_deaths_per_s,
       (SELECT max(ts) FROM life l WHERE l.pod = h.pod AND l.kind = 'worker_exit'
          AND l.ts BETWEEN h.ts AND h.ts + to_seconds($after_s::INTEGER)) AS last_death,
       n.pod AS next_pod, n.host AS next_host, n.cpu_count AS next_cpu_count, n.ts AS next_ts
FROM hits h
LEFT JOIN LATERAL (
    SELECT c.pod, c.host, c.cpu_count, c.ts FROM cpu c
    WHERE c.ts > h.ts AND c.pod <> h.pod AND c.ts <= h.ts + INTERVAL 1 HOUR
    ORDER BY c.ts LIMIT 1
) n ON true
ORDER BY h.ts
)
ORDER BY ts;
