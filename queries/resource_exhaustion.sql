-- resource_exhaustion.sql: file descriptors and memory running out (backpressure).
--
-- Measures, per pod, the signs of work accepted faster than it is finished: EMFILE errors
-- ("too many open files": count, first, worst second), heap out-of-memory aborts, OOM kills
-- (error lines, pod-object terminations with reason OOMKilled or exit code 137), and the memory
-- the process reports (first, last and peak MB; growth in MB per minute by least squares over the
-- failure's run-up: from the first sample to the first heap OOM or OOM kill, else to the peak sample).
-- Events, not lines: a stack or error-object fragment (a line that starts with whitespace, `}`,
-- `Caused by:`, e.g. Node's `  code: 'EMFILE',`) belongs to the error above it and is not counted.
-- Parameters: $since, $until (TIMESTAMPTZ window).
-- Columns: pod, service, emfile (count), first_emfile (TIMESTAMPTZ), peak_emfile_per_s,
--   heap_oom, oom_killed, mem_first_mb, mem_last_mb, mem_peak_mb, mem_growth_mb_per_min (over the
--   run-up), mem_runup_end (TIMESTAMPTZ, its end),
--   first_memory, last_memory (TIMESTAMPTZ), first_error, last_error (TIMESTAMPTZ: the first and last
--   EMFILE, heap OOM or OOM kill; a pod that logged no memory figures still has a time), example_source_id, example_line_no, example_message
--   (the first exhaustion line).
-- Only pods with at least one EMFILE, heap OOM or OOM kill are listed. Run with SET TimeZone = 'UTC'.
WITH ev AS (
    SELECT * FROM events
    WHERE ts >= $since::TIMESTAMPTZ AND ts < $until::TIMESTAMPTZ AND pod IS NOT NULL
      AND (kind = 'memory' OR error_class IN ('emfile', 'heap_oom', 'oom_killed')
           OR (kind = 'container_terminated' AND (attrs->>'reason' = 'OOMKilled' OR exit_code = 137)))
      AND NOT regexp_matches(coalesce(message, ''), '^(?:\s|\}|\]|\)|Caused by: |\.\.\. \d+ more)')
),
bad AS (
    SELECT pod,
           count(*) FILTER (WHERE error_class = 'emfile') AS emfile,
           min(ts) FILTER (WHERE error_class = 'emfile') AS first_emfile,
           count(*) FILTER (WHERE error_class = 'heap_oom') AS heap_oom,
           count(*) FILTER (WHERE error_class = 'oom_killed' OR kind = 'container_terminated') AS oom_killed,
           min(ts) AS first_error, max(ts) AS last_error,
           arg_min(source_id, ts) AS example_source_id, arg_min(line_no, ts) AS example_line_no,
           arg_min(message, ts) AS example_message
    FROM ev WHERE kind <> 'memory' GROUP BY pod
),
peak AS (
    SELECT pod, max(n) AS peak_emfile_per_s
    FROM (SELECT pod, date_trunc('second', ts) AS s, count(*) AS n FROM ev WHERE error_class = 'emfile' GROUP BY ALL)
    GROUP BY pod
),
fail AS (
    SELECT pod, min(ts) AS fail_ts FROM ev
    WHERE error_class IN ('heap_oom', 'oom_killed') OR kind = 'container_terminated' GROUP BY pod
),
runup AS (
    SELECT m.pod, coalesce(any_value(f.fail_ts), arg_max(m.ts, TRY_CAST(m.attrs->>'mem_mb' AS DOUBLE))) AS runup_end
    FROM ev m LEFT JOIN fail f USING (pod) WHERE m.kind = 'memory' GROUP BY m.pod
),
mem AS (
    SELECT pod, any_value(service) AS service,
           arg_min(TRY_CAST(attrs->>'mem_mb' AS DOUBLE), ts) AS mem_first_mb,
           arg_max(TRY_CAST(attrs->>'mem_mb' AS DOUBLE), ts) AS mem_last_mb,
           max(TRY_CAST(attrs->>'mem_mb' AS DOUBLE)) AS mem_peak_mb,
           round(regr_slope(TRY_CAST(attrs->>'mem_mb' AS DOUBLE), epoch(ts))
                 FILTER (WHERE ts <= (SELECT r.runup_end FROM runup r WHERE r.pod = ev.pod)) * 60, 2) AS mem_growth_mb_per_min,
           (SELECT r.runup_end FROM runup r WHERE r.pod = ev.pod) AS mem_runup_end,
           min(ts) AS first_memory, max(ts) AS last_memory
    FROM ev WHERE kind = 'memory' GROUP BY pod
)
SELECT b.pod, coalesce(m.service, (SELECT any_value(service) FROM events e WHERE e.pod = b.pod)) AS service,
       b.emfile, b.first_emfile, coalesce(p.peak_emfile_per_s, 0) AS peak_emfile_per_s, b.heap_oom, b.oom_killed,
       m.mem_first_mb, m.mem_last_mb, m.mem_peak_mb, m.mem_growth_mb_per_min, m.mem_runup_end, m.first_memory, m.last_memory,
       b.first_error, b.last_error, b.example_source_id, b.example_line_no, b.example_message
FROM bad b LEFT JOIN peak p USING (pod) LEFT JOIN mem m USING (pod)
WHERE b.emfile > 0 OR b.heap_oom > 0 OR b.oom_killed > 0
ORDER BY b.emfile + 100 * (b.heap_oom + b.oom_killed) DESC, b.pod;
