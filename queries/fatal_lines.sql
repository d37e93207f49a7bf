-- fatal_lines.sql: the first line of each pod that says it is crash-looping, out of file
-- descriptors or out of heap.
--
-- Measures, per pod and error class (crash_loop: "Back-off restarting failed container" /
-- CrashLoopBackOff; emfile: EMFILE / too many open files; heap_oom: JavaScript heap out of
-- memory / OutOfMemoryError), the first such line in the window and how many followed.
-- Parameters: $since, $until (TIMESTAMPTZ window).
-- Columns: pod, service, error_class, first_ts, last_ts, lines, source_id, line_no, message (the first).
WITH ev AS (
    SELECT * FROM events
    WHERE error_class IN ('crash_loop', 'emfile', 'heap_oom')  -- error lines and Kubernetes events
      AND ts >= $since::TIMESTAMPTZ AND ts < $until::TIMESTAMPTZ
    QUALIFY row_number() OVER (PARTITION BY coalesce(pod, ''), ts, message ORDER BY source_id, line_no) = 1
)
SELECT pod, any_value(service) AS service, error_class, min(ts) AS first_ts, max(ts) AS last_ts, count(*) AS lines,
       arg_min(source_id, ts) AS source_id, arg_min(line_no, ts) AS line_no, arg_min(message, ts) AS message
FROM ev
GROUP BY pod, error_class
ORDER BY first_ts, pod NULLS FIRST, error_class;
