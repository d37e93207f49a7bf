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
WITH stopped AS (
    -- exits with a stop signal within 60 s after their pod logged a shutdown (a join, not a
    -- subquery per row: the exits with such a signal are few, the shutdown lines fewer)
    SELECT DISTINCT x.pod, x.ts
    FROM events x JOIN events sd
      ON sd.kind = 'shutdown' AND sd.pod IS NOT DISTINCT FROM x.pod
     AND sd.ts BETWEEN x.ts - INTERVAL 60 SECOND AND x.ts
    WHERE x.kind = 'worker_exit' AND x.signal IN ('SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP')
      AND x.ts >= $since::TIMESTAMPTZ AND x.ts < $until::TIMESTAMPTZ
),
ev AS (
    SELECT * FROM (
        SELECT e.*, row_number() OVER (PARTITION BY e.source_id, e.kind, e.pod, e.ts, e.message ORDER BY e.line_no) AS occ
        FROM events e LEFT JOIN stopped g ON e.kind = 'worker_exit' AND g.pod IS NOT DISTINCT FROM e.pod AND g.ts = e.ts
        WHERE e.ts >= $since::TIMESTAMPTZ AND e.ts < $until::TIMESTAMPTZ
          AND e.kind IN ('worker_exit', 'worker_start', 'error', 'span')
          AND NOT (e.kind = 'worker_exit' AND coalesce(e.exit_code = 0 OR lower(e.attrs->>'exit_mode') = 'graceful'
                     OR (e.signal IN ('SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP') AND g.ts IS NOT NULL), false))
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
d_s AS (SELECT date_trunc('second', ts) AS sec, count(*) AS n FROM deaths GROUP BY 1),
e_s AS (SELECT date_trunc('second', ts) AS sec, count(*) AS n FROM errs GROUP BY 1),
series AS (  -- deaths and errors per second of the death span, seconds with none included
    SELECT s.sec, coalesce(d_s.n, 0) AS d, coalesce(e_s.n, 0) AS e
    FROM secs s LEFT JOIN d_s USING (sec) LEFT JOIN e_s USING (sec)
),
lag_range AS (SELECT l FROM range(-$max_lag_s::INTEGER, $max_lag_s::INTEGER + 1) t(l)),
lag_pairs AS (  -- deaths of each second next to errors $l seconds later, for every lag
    SELECT t.l, a.d, b.e
    FROM lag_range t CROSS JOIN series a JOIN series b ON b.sec = a.sec + to_seconds(t.l)
),
lags AS (
    SELECT t.l AS lag_s, CASE WHEN count(p.l) >= 5 THEN corr(p.d, p.e) END AS c
    FROM lag_range t LEFT JOIN lag_pairs p ON p.l = t.l
    GROUP BY t.l
),
best AS (SELECT lag_s, c FROM lags WHERE c IS NOT NULL AND NOT isnan(c) ORDER BY c DESC, abs(lag_s) LIMIT 1),
lonely AS (  -- deaths with no dependency error within the tolerance: the nearest error on either side
    SELECT d.ts FROM deaths d
    ASOF LEFT JOIN errs eb ON d.ts >= eb.ts
    ASOF LEFT JOIN errs ea ON d.ts <= ea.ts
    WHERE NOT coalesce(abs(epoch(eb.ts - d.ts)) <= $tolerance_s::DOUBLE, false)
      AND NOT coalesce(abs(epoch(ea.ts - d.ts)) <= $tolerance_s::DOUBLE, false)
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
