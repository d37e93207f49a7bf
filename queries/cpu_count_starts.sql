-- cpu_count_starts.sql: the pod starts (with the CPU count each saw) that begin before $cutoff,
-- as `pmortem prune` rolls them up into cpu_count_history before deleting their events.
--
-- Measures: one observation per pod start, counted as host_shape_survey.sql counts them (a pod's
-- CPU-count lines more than 60 s apart are separate starts; an explicit "Number of CPUs" line
-- is preferred over a "forking N workers" line).
-- Parameters: $cutoff (TIMESTAMPTZ).
-- Columns: ts (the observation), pod, service, cpu_count.
WITH raw AS (
    SELECT *, coalesce(attrs->>'basis', '') = 'worker_count' AS from_worker_count
    FROM events
    WHERE kind = 'cpu_count' AND ts IS NOT NULL AND ts < $cutoff::TIMESTAMPTZ AND pod IS NOT NULL AND cpu_count IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY pod, ts, message ORDER BY host IS NULL, source_id, line_no) = 1
),
numbered AS (
    SELECT *, sum(CASE WHEN prev_ts IS NULL OR ts - prev_ts > INTERVAL 60 SECOND THEN 1 ELSE 0 END)
                  OVER (PARTITION BY pod ORDER BY ts, line_no) AS start_no
    FROM (SELECT *, lag(ts) OVER (PARTITION BY pod ORDER BY ts, line_no) AS prev_ts FROM raw)
)
SELECT ts, pod, service, cpu_count FROM numbered
QUALIFY row_number() OVER (PARTITION BY pod, start_no ORDER BY from_worker_count, ts, line_no) = 1
