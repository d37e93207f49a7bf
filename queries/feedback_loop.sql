-- feedback_loop.sql: tests "dependency errors kill workers, and respawns hammer the dependency".
--
-- If dependency errors caused the deaths, errors would come first, deaths would stop when errors
-- stop, and every pod calling the same dependency would die. This query measures the three:
--   lead/lag: first dependency error minus first death (positive: deaths came first), and the lag
--   (-$max_lag_s..$max_lag_s s, at least 5 overlapping seconds) at which per-second deaths and errors
--   correlate best (positive lag: errors follow deaths);
--   deaths without errors: deaths in seconds with no dependency error within $tolerance_s;
--   controls: deaths in pods of the service that are not in $trigger_pods (comma-separated);
--   exit mode: a worker that dies of a dependency error exits by itself (process.exit(1): exit code,
--   no signal); a worker killed from outside (cgroup OOM killer, kubelet) dies by a signal.
-- Parameters: $since, $until (TIMESTAMPTZ), $tolerance_s (DOUBLE), $max_lag_s (INTEGER),
--   $server_class, $client_classes (VARCHAR), $trigger_pods (VARCHAR, comma-separated pod names).
-- Columns: deaths, dependency_errors (server + client errors), first_death, first_error (TIMESTAMPTZ),
--   deaths_lead_errors_s (seconds, first_error - first_death), best_lag_s (INTEGER seconds, errors
--   shifted by it best match deaths), best_lag_corr, corr_lag0, deaths_without_errors (count),
--   deaths_without_errors_share (0-1), seconds_with_errors, deaths_per_s_with_errors,
--   seconds_without_errors_in_spiral, deaths_per_s_without_errors (during the death span),
--   deaths_by_signal (deaths with a signal, e.g. SIGKILL), deaths_by_error_exit (no signal, exit code
--   other than 0), control_pods (count of other pods with worker lines), control_deaths.
-- Graceful stops are not deaths: worker exits with code 0, exits the log calls graceful, and
-- SIGTERM/SIGINT/SIGQUIT/SIGHUP exits within 60 s after the pod logged a shutdown are left out.
WITH ev AS (
    SELECT * FROM (
        SELECT *, row_number() OVER (PARTITION BY source_id, kind, pod, ts, message ORDER BY line_no) AS occ
        FROM events
        WHERE ts >= $since::TIMESTAMPTZ AND ts < $until::TIMESTAMPTZ
          AND kind IN ('worker_exit', 'worker_start', 'error', 'span')
          AND NOT (kind = 'worker_exit' AND coalesce(events.exit_code = 0 OR lower(events.attrs->>'exit_mode') = 'graceful'
                     OR (events.signal IN ('SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP')
                         AND EXISTS (SELECT 1 FROM events sd WHERE sd.kind = 'shutdown' AND sd.pod IS NOT DISTINCT FROM events.pod
                                     AND sd.ts BETWEEN events.ts - INTERVAL 60 SECOND AND events.ts)), false))
    )
    -- the same line seen through two exports counts once; repeated lines of one source (occ) stay apart
    QUALIFY row_number() OVER (PARTITION BY kind, pod, ts, message, span_id, occ ORDER BY host IS NULL, source_id, line_no) = 1
),
trig AS (SELECT unnest(string_split($trigger_pods::VARCHAR, ',')) AS pod),
deaths AS (SELECT ts, pod, signal, exit_code FROM ev WHERE kind = 'worker_exit' AND pod IN (SELECT pod FROM trig)),
errs AS (
    SELECT ts FROM ev WHERE kind = 'error' AND error_class = $server_class::VARCHAR
    UNION ALL
    SELECT ts FROM ev WHERE kind = 'error' AND list_contains(string_split($client_classes::VARCHAR, ','), error_class)
      AND coalesce(pod, '') NOT IN (SELECT pod FROM ev WHERE kind = 'span' AND pod IS NOT NULL)  -- spans win: count once
    UNION ALL
    SELECT ts + to_microseconds(CAST(coalesce(duration_ms, 0) * 1000 AS BIGINT)) FROM (
        SELECT * FROM ev WHERE kind = 'span' AND status = 2
          AND list_contains(string_split($client_classes::VARCHAR, ','), coalesce(error_class, ''))
        QUALIFY row_number() OVER (PARTITION BY span_id ORDER BY source_id) = 1)
),
span_s AS (
    SELECT date_trunc('second', min(ts)) AS t0, date_trunc('second', max(ts)) AS t1 FROM deaths
),
secs AS (
    SELECT unnest(generate_series((SELECT t0 FROM span_s), (SELECT t1 FROM span_s), INTERVAL 1 SECOND)) AS sec
),
series AS (
    SELECT s.sec,
           (SELECT count(*) FROM deaths d WHERE date_trunc('second', d.ts) = s.sec) AS d,
           (SELECT count(*) FROM errs e WHERE date_trunc('second', e.ts) = s.sec) AS e
    FROM secs s
),
lags AS (
    SELECT l AS lag_s,
           (SELECT CASE WHEN count(*) >= 5 THEN corr(a.d, b.e) END
              FROM series a JOIN series b ON b.sec = a.sec + to_seconds(l)) AS c
    FROM range(-$max_lag_s::INTEGER, $max_lag_s::INTEGER + 1) t(l)
),
best AS (SELECT lag_s, c FROM lags WHERE c IS NOT NULL AND NOT isnan(c) ORDER BY c DESC, abs(lag_s) LIMIT 1),
lonely AS (
    SELECT d.ts FROM deaths d
    WHERE NOT EXISTS (SELECT 1 FROM errs e WHERE abs(epoch(e.ts - d.ts)) <= $tolerance_s::DOUBLE)
),
ctrl AS (
    SELECT DISTINCT pod FROM ev WHERE kind IN ('worker_start', 'worker_exit') AND pod IS NOT NULL
      AND pod NOT IN (SELECT pod FROM trig)
)
SELECT (SELECT count(*) FROM deaths) AS deaths,
       (SELECT count(*) FROM errs) AS dependency_errors,
       (SELECT min(ts) FROM deaths) AS first_death,
       (SELECT min(ts) FROM errs) AS first_error,
       round(epoch((SELECT min(ts) FROM errs) - (SELECT min(ts) FROM deaths)), 3) AS deaths_lead_errors_s,
       (SELECT lag_s FROM best) AS best_lag_s,
       round((SELECT c FROM best), 3) AS best_lag_corr,
       round((SELECT c FROM lags WHERE lag_s = 0), 3) AS corr_lag0,
       (SELECT count(*) FROM lonely) AS deaths_without_errors,
       round((SELECT count(*) FROM lonely) / nullif((SELECT count(*) FROM deaths), 0), 3) AS deaths_without_errors_share,
       (SELECT count(*) FROM series WHERE e > 0) AS seconds_with_errors,
       round((SELECT sum(d) / nullif(count(*), 0) FROM series WHERE e > 0), 3) AS deaths_per_s_with_errors,
       (SELECT count(*) FROM series WHERE e = 0) AS seconds_without_errors_in_spiral,
       round((SELECT sum(d) / nullif(count(*), 0) FROM series WHERE e = 0), 3) AS deaths_per_s_without_errors,
       (SELECT count(*) FROM deaths WHERE signal IS NOT NULL) AS deaths_by_signal,
       (SELECT count(*) FROM deaths WHERE signal IS NULL AND exit_code IS NOT NULL AND exit_code <> 0) AS deaths_by_error_exit,
       (SELECT count(*) FROM ctrl) AS control_pods,
       (SELECT count(*) FROM ev WHERE kind = 'worker_exit' AND pod IN (SELECT pod FROM ctrl)) AS control_deaths;
