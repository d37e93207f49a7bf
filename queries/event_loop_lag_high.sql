-- event_loop_lag_high.sql: pods whose event loop lagged above a threshold, more than once.
--
-- Measures, per pod in the window, the event-loop lag lines at or above $lag_ms: how many,
-- the first and last, the largest, and every lag line of the pod for comparison.
-- Parameters: $since, $until (TIMESTAMPTZ window), $lag_ms (DOUBLE).
-- Columns: pod, service, lines_over, lag_lines, max_lag_ms, first_ts, last_ts, source_id, line_no,
--   message (the worst line).
WITH ev AS (
    SELECT * FROM events
    WHERE kind = 'event_loop_lag' AND pod IS NOT NULL AND duration_ms IS NOT NULL
      AND ts >= $since::TIMESTAMPTZ AND ts < $until::TIMESTAMPTZ
    QUALIFY row_number() OVER (PARTITION BY pod, ts, message ORDER BY source_id, line_no) = 1
)
SELECT pod, any_value(service) AS service,
       count(*) FILTER (WHERE duration_ms >= $lag_ms::DOUBLE) AS lines_over, count(*) AS lag_lines,
       max(duration_ms) AS max_lag_ms,
       min(ts) FILTER (WHERE duration_ms >= $lag_ms::DOUBLE) AS first_ts,
       max(ts) FILTER (WHERE duration_ms >= $lag_ms::DOUBLE) AS last_ts,
       arg_max(source_id, duration_ms) AS source_id, arg_max(line_no, duration_ms) AS line_no,
       arg_max(message, duration_ms) AS message
FROM ev
GROUP BY pod
HAVING count(*) FILTER (WHERE duration_ms >= $lag_ms::DOUBLE) > 0
ORDER BY first_ts, pod NULLS FIRST;
