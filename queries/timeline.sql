-- timeline.sql: the incident second by second (or per $bucket_s seconds), for the chart and the timeline.
--
-- Parameters: $since, $until (TIMESTAMPTZ window), $bucket_s (INTEGER seconds per bucket),
--   $server_class (VARCHAR, the server-side error class, e.g. response_closed),
--   $client_classes (VARCHAR, comma-separated client-side error classes, e.g. context_cancelled,read_timeout).
-- Columns: bucket (TIMESTAMPTZ, bucket start), deaths (worker exits), worker_starts,
--   dependency_calls (outgoing calls logged by callers; client spans for pods that log none),
--   server_errors (errors of $server_class), client_errors (error spans and client error lines of
--   $client_classes), dependency_errors (server_errors + client_errors), timeouts (upstream_timeout and
--   read_timeout errors, e.g. a proxy's 504s). Counts per bucket.
-- Duplicates (same line through two exports, same span in two span files) count once; a failed call
-- that is both an error span and a caller log line counts once (the span, for pods that export spans).
-- Graceful stops are not deaths: worker exits with code 0, exits the log calls graceful, and
-- SIGTERM/SIGINT/SIGQUIT/SIGHUP exits within 60 s after the pod logged a shutdown are left out.
WITH ev AS (
    SELECT * FROM (
        SELECT *, row_number() OVER (PARTITION BY source_id, kind, pod, ts, message ORDER BY line_no) AS occ
        FROM events
        WHERE ts >= $since::TIMESTAMPTZ AND ts < $until::TIMESTAMPTZ
          AND kind IN ('worker_start', 'worker_exit', 'dependency_call', 'span', 'error')
          AND NOT (kind = 'worker_exit' AND coalesce(events.exit_code = 0 OR lower(events.attrs->>'exit_mode') = 'graceful'
                     OR (events.signal IN ('SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP')
                         AND {'p': events.pod, 't': events.ts} IN (  -- exits within 60 s after their pod's shutdown: one join, not a subquery per row
                         SELECT DISTINCT {'p': x.pod, 't': x.ts} FROM events x JOIN events sd
                           ON sd.kind = 'shutdown' AND sd.pod IS NOT DISTINCT FROM x.pod AND sd.ts BETWEEN x.ts - INTERVAL 60 SECOND AND x.ts
                         WHERE x.kind = 'worker_exit' AND x.signal IN ('SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP'))), false))
    )
    -- the same line seen through two exports counts once; repeated lines of one source (occ) stay apart
    QUALIFY row_number() OVER (PARTITION BY kind, pod, ts, message, span_id
                              , occ ORDER BY host IS NULL, source_id, line_no) = 1
),
spans AS (
    SELECT * FROM ev WHERE kind = 'span'
    QUALIFY row_number() OVER (PARTITION BY span_id ORDER BY source_id, line_no) = 1
),
logging_pods AS (SELECT DISTINCT pod FROM ev WHERE kind = 'dependency_call'),
marks AS (
    SELECT ts, 'death' AS what FROM ev WHERE kind = 'worker_exit'
    UNION ALL SELECT ts, 'start' FROM ev WHERE kind = 'worker_start'
    UNION ALL SELECT ts, 'call' FROM ev WHERE kind = 'dependency_call'
    UNION ALL SELECT ts, 'call' FROM spans
        WHERE coalesce(attrs->>'span_kind', 'client') = 'client' AND peer IS NOT NULL
          AND pod NOT IN (SELECT pod FROM logging_pods)
    UNION ALL SELECT ts, 'timeout' FROM ev WHERE kind = 'error' AND error_class IN ('upstream_timeout', 'read_timeout')
    UNION ALL SELECT ts, 'server_error' FROM ev WHERE kind = 'error' AND error_class = $server_class::VARCHAR
    UNION ALL SELECT ts + to_microseconds(CAST(coalesce(duration_ms, 0) * 1000 AS BIGINT)), 'client_error' FROM spans
        WHERE status = 2 AND list_contains(string_split($client_classes::VARCHAR, ','), coalesce(error_class, ''))
    UNION ALL SELECT ts, 'client_error' FROM ev
        WHERE kind = 'error' AND list_contains(string_split($client_classes::VARCHAR, ','), error_class)
          AND coalesce(pod, '') NOT IN (SELECT pod FROM spans WHERE pod IS NOT NULL)  -- spans win: count once
),
buckets AS (
    SELECT unnest(generate_series(time_bucket(to_seconds($bucket_s::INTEGER), $since::TIMESTAMPTZ),
                                  $until::TIMESTAMPTZ, to_seconds($bucket_s::INTEGER))) AS bucket
)
SELECT b.bucket,
       count(*) FILTER (WHERE m.what = 'death') AS deaths,
       count(*) FILTER (WHERE m.what = 'start') AS worker_starts,
       count(*) FILTER (WHERE m.what = 'call') AS dependency_calls,
       count(*) FILTER (WHERE m.what = 'server_error') AS server_errors,
       count(*) FILTER (WHERE m.what = 'client_error') AS client_errors,
       count(*) FILTER (WHERE m.what IN ('server_error', 'client_error')) AS dependency_errors,
       count(*) FILTER (WHERE m.what = 'timeout') AS timeouts
FROM buckets b
LEFT JOIN marks m ON time_bucket(to_seconds($bucket_s::INTEGER), m.ts) = b.bucket
WHERE b.bucket < $until::TIMESTAMPTZ
GROUP BY b.bucket
ORDER BY b.bucket;
