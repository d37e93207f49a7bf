-- respawn_backoff.sql: workers respawned right after they died, with no growing delay.
--
-- Measures, per pod in the window, each worker exit and the first worker start of the same pod
-- after it (the respawn), the delay between them, and whether the delays grow (a backoff:
-- the last third of the delays has a median at least twice the first third's).
-- Only deaths are respawned: a graceful stop (exit code 0, an exit the log calls graceful, or a
-- SIGTERM/SIGINT/SIGQUIT/SIGHUP exit within 60 s after the pod logged a shutdown or reload) is not
-- one, so a reload's old workers and the new ones it starts are no respawn.
-- Parameters: $since, $until (TIMESTAMPTZ window).
-- Columns: pod, service, respawns, first_exit, last_exit (TIMESTAMPTZ), median_delay_ms,
--   max_delay_ms, early_median_ms, late_median_ms, backs_off (BOOLEAN),
--   source_id, line_no, message (the first exit line).
-- Run with SET TimeZone = 'UTC'.
WITH ev AS (
    SELECT * FROM events
    WHERE kind IN ('worker_exit', 'worker_start', 'shutdown') AND pod IS NOT NULL
      AND ts >= $since::TIMESTAMPTZ AND ts < $until::TIMESTAMPTZ
    QUALIFY row_number() OVER (PARTITION BY kind, pod, ts, message ORDER BY source_id, line_no) = 1
),
nxt AS (
    SELECT *, min(CASE WHEN kind = 'worker_start' THEN ts END)
                  OVER (PARTITION BY pod ORDER BY ts, line_no ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_start,
           max(CASE WHEN kind = 'shutdown' THEN ts END)
                  OVER (PARTITION BY pod ORDER BY ts, line_no ROWS UNBOUNDED PRECEDING) AS last_shutdown
    FROM ev
),
gaps AS (
    SELECT pod, service, ts, source_id, line_no, message,
           epoch_ms(next_start) - epoch_ms(ts) AS delay_ms,
           ntile(3) OVER (PARTITION BY pod ORDER BY ts) AS third
    FROM nxt WHERE kind = 'worker_exit' AND next_start IS NOT NULL
      AND NOT coalesce(exit_code = 0 OR lower(attrs->>'exit_mode') = 'graceful'
                       OR (signal IN ('SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP') AND ts - last_shutdown <= INTERVAL 60 SECOND), false)
)
SELECT pod, any_value(service) AS service, count(*) AS respawns, min(ts) AS first_exit, max(ts) AS last_exit,
       median(delay_ms) AS median_delay_ms, max(delay_ms) AS max_delay_ms,
       median(delay_ms) FILTER (WHERE third = 1) AS early_median_ms,
       median(delay_ms) FILTER (WHERE third = 3) AS late_median_ms,
       coalesce(median(delay_ms) FILTER (WHERE third = 3) >= 2 * greatest(median(delay_ms) FILTER (WHERE third = 1), 1), false) AS backs_off,
       arg_min(source_id, ts) AS source_id, arg_min(line_no, ts) AS line_no, arg_min(message, ts) AS message
FROM gaps
GROUP BY pod
ORDER BY first_exit, pod;
