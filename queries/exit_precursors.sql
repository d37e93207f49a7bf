-- exit_precursors.sql: the error a worker logged just before it died, when one keeps recurring.
--
-- Measures, for every worker exit in the dying pods, which error events of the same pod came in
-- the $before_s seconds before it (a line after it in the same file is not before it, even when
-- both carry the same time), grouped by error class (or, for unclassified error lines, the
-- message with numbers masked). A crash loop shows one precursor before nearly every exit (the
-- root cause is usually a few lines above the crash line); memory kills show none.
-- Parameters: $since, $until (TIMESTAMPTZ window), $pods (VARCHAR, comma-separated pods),
--   $before_s (DOUBLE seconds before each exit).
-- Columns: pod, precursor (error_class, or masked message), exits (exits in the pod),
--   exits_preceded (exits with that precursor within $before_s), share (exits_preceded / exits,
--   0-1), median_gap_s (seconds from the closest such error to the exit), example_source_id,
--   example_line_no, example_message (the first such error line).
-- The same line seen through two exports counts once. Run with SET TimeZone = 'UTC'.
-- Graceful stops are not deaths: worker exits with code 0, exits the log calls graceful, and
-- SIGTERM/SIGINT/SIGQUIT/SIGHUP exits within 60 s after the pod logged a shutdown are left out.
WITH ev AS (
    SELECT * FROM (
        SELECT *, row_number() OVER (PARTITION BY source_id, kind, pod, ts, message ORDER BY line_no) AS occ
        FROM events
        WHERE ts >= $since::TIMESTAMPTZ AND ts < $until::TIMESTAMPTZ
          AND list_contains(string_split($pods::VARCHAR, ','), pod)
          AND (kind IN ('worker_exit', 'error') OR level IN ('error', 'fatal'))
          AND NOT (kind = 'worker_exit' AND coalesce(events.exit_code = 0 OR lower(events.attrs->>'exit_mode') = 'graceful'
                     OR (events.signal IN ('SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP')
                         AND {'p': events.pod, 't': events.ts} IN (  -- exits within 60 s after their pod's shutdown: one join, not a subquery per row
                         SELECT DISTINCT {'p': x.pod, 't': x.ts} FROM events x JOIN events sd
                           ON sd.kind = 'shutdown' AND sd.pod IS NOT DISTINCT FROM x.pod AND sd.ts BETWEEN x.ts - INTERVAL 60 SECOND AND x.ts
                         WHERE x.kind = 'worker_exit' AND x.signal IN ('SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP'))), false))
    )
    -- the same line seen through two exports counts once; repeated lines of one source (occ) stay apart
    QUALIFY row_number() OVER (PARTITION BY kind, pod, ts, message, occ ORDER BY source_id, line_no) = 1
),
exits AS (
    SELECT pod, ts, source_id, line_no, row_number() OVER (PARTITION BY pod ORDER BY ts, line_no) AS exit_no,
           count(*) OVER (PARTITION BY pod) AS n_exits
    FROM ev WHERE kind = 'worker_exit'
),
errs AS (
    SELECT pod, ts, source_id, line_no, message,
           coalesce(error_class, regexp_replace(left(split_part(message, chr(10), 1), 160), '[0-9]+', '<n>', 'g')) AS precursor
    FROM ev WHERE kind <> 'worker_exit'
      -- the line that heads an error, not a fragment of its stack or error object (`  code: 'E...',`)
      AND NOT regexp_matches(coalesce(message, ''), '^(?:\s|\}|\]|\)|Caused by: |\.\.\. \d+ more)')
),
pairs AS (
    -- each exit with the closest preceding error of each precursor
    SELECT x.pod, x.exit_no, x.n_exits, e.precursor, epoch(x.ts - e.ts) AS gap_s, e.source_id, e.line_no, e.message, e.ts AS err_ts
    FROM exits x JOIN errs e
      ON e.pod = x.pod AND e.ts >= x.ts - to_microseconds(($before_s * 1e6)::BIGINT)
     -- before the exit: earlier, or at the same time on an earlier line of the same file (a log
     -- that stamps whole seconds: gunicorn's worker logs its 'Error handling request' right after
     -- the master's WORKER TIMEOUT line, in the same second; that error follows the kill)
     AND (e.ts < x.ts OR (e.ts = x.ts AND (e.source_id <> x.source_id OR e.line_no < x.line_no)))
    QUALIFY row_number() OVER (PARTITION BY x.pod, x.exit_no, e.precursor ORDER BY e.ts DESC, e.line_no DESC) = 1
)
SELECT pod, precursor,
       any_value(n_exits) AS exits,
       count(DISTINCT exit_no) AS exits_preceded,
       round(count(DISTINCT exit_no) / any_value(n_exits), 3) AS share,
       round(median(gap_s), 3) AS median_gap_s,
       arg_min(source_id, err_ts) AS example_source_id,
       arg_min(line_no, err_ts) AS example_line_no,
       arg_min(message, err_ts) AS example_message
FROM pairs
GROUP BY pod, precursor
ORDER BY pod, exits_preceded DESC, precursor;
