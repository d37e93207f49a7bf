-- request_amplification.sql: calls from each pod to its dependencies per minute, and what drives them.
--
-- Measures, per calling pod and dependency in the window: outgoing calls (caller log lines such as
-- "Fetching ... from http://host/..."; client spans for pods that log none), calls per minute of the
-- pod's own active span (its first to last event in the window: a pod that lived 42 s of a
-- 10-minute window is not diluted by the other 9 minutes), worker starts and deaths in the same pod, and the correlation between calls and worker
-- starts per second (near 1: every new worker calls the dependency at startup).
-- Pods with deaths are the incident side; pods of the same service without deaths are the normal
-- side (controls in the same window). The analyzer divides the two.
-- Parameters: $since, $until (TIMESTAMPTZ), $service (VARCHAR or NULL: calling service).
-- Columns: pod, service, peer (dependency host or peer.service), calls, window_min (minutes, DOUBLE),
--   active_min (minutes from the pod's first to last event in the window, at least 1 s),
--   calls_per_min (calls / active_min), first_call, last_call (TIMESTAMPTZ: when the measured calls
--   began and ended, the amplification's own span, not the window's), worker_starts, deaths, corr_calls_starts (Pearson, per-second buckets, NULL if
--   constant), basis (log_lines | client_spans).
-- Graceful stops are not deaths: worker exits with code 0, exits the log calls graceful, and
-- SIGTERM/SIGINT/SIGQUIT/SIGHUP exits within 60 s after the pod logged a shutdown are left out.
WITH ev AS (
    SELECT * FROM (
        SELECT *, row_number() OVER (PARTITION BY source_id, kind, pod, ts, message ORDER BY line_no) AS occ
        FROM events
        WHERE ts >= $since::TIMESTAMPTZ AND ts < $until::TIMESTAMPTZ
          AND kind IN ('dependency_call', 'span', 'worker_start', 'worker_exit')
          AND NOT (kind = 'worker_exit' AND coalesce(events.exit_code = 0 OR lower(events.attrs->>'exit_mode') = 'graceful'
                     OR (events.signal IN ('SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP')
                         AND {'p': events.pod, 't': events.ts} IN (  -- exits within 60 s after their pod's shutdown: one join, not a subquery per row
                         SELECT DISTINCT {'p': x.pod, 't': x.ts} FROM events x JOIN events sd
                           ON sd.kind = 'shutdown' AND sd.pod IS NOT DISTINCT FROM x.pod AND sd.ts BETWEEN x.ts - INTERVAL 60 SECOND AND x.ts
                         WHERE x.kind = 'worker_exit' AND x.signal IN ('SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP'))), false))
          AND pod IS NOT NULL
          AND ($service::VARCHAR IS NULL OR starts_with(pod, $service::VARCHAR || '-')
               OR service IN ($service::VARCHAR, $service::VARCHAR || '-service'))
    )
    -- the same line seen through two exports counts once; repeated lines of one source (occ) stay apart
    QUALIFY row_number() OVER (PARTITION BY kind, pod, ts, message, span_id, occ ORDER BY host IS NULL, source_id, line_no) = 1
),
spans AS (
    SELECT * FROM ev WHERE kind = 'span' AND coalesce(attrs->>'span_kind', 'client') = 'client' AND peer IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY span_id ORDER BY source_id, line_no) = 1
),
logging_pods AS (SELECT DISTINCT pod FROM ev WHERE kind = 'dependency_call'),
calls AS (
    SELECT pod, service, peer, ts, 'log_lines' AS basis FROM ev WHERE kind = 'dependency_call'
    UNION ALL
    SELECT pod, service, peer, ts, 'client_spans' FROM spans WHERE pod NOT IN (SELECT pod FROM logging_pods)
),
w AS (SELECT epoch($until::TIMESTAMPTZ - $since::TIMESTAMPTZ) / 60.0 AS window_min),
per_sec AS (
    SELECT pod, sec, sum(c) AS c, sum(s) AS s FROM (
        SELECT pod, date_trunc('second', ts) AS sec, 1 AS c, 0 AS s FROM calls
        UNION ALL
        SELECT pod, date_trunc('second', ts), 0, 1 FROM ev WHERE kind = 'worker_start'
    ) GROUP BY pod, sec
),
agg AS (
    SELECT pod, any_value(service) AS service, coalesce(peer, '?') AS peer, count(*) AS calls, any_value(basis) AS basis,
           min(ts) AS first_call, max(ts) AS last_call
    FROM calls GROUP BY pod, coalesce(peer, '?')
),
active AS (  -- events, and the requests counted in the rollup (only failed and slow ones stay events)
    SELECT pod, greatest(epoch(max(b) - min(a)), 1.0) / 60.0 AS active_min FROM (
        SELECT pod, ts AS a, ts AS b FROM events
        WHERE ts >= $since::TIMESTAMPTZ AND ts < $until::TIMESTAMPTZ AND pod IN (SELECT pod FROM agg)
        UNION ALL
        SELECT pod, greatest(first_ts, $since::TIMESTAMPTZ), least(last_ts, $until::TIMESTAMPTZ - INTERVAL 1 MICROSECOND) FROM requests
        WHERE last_ts >= $since::TIMESTAMPTZ AND first_ts < $until::TIMESTAMPTZ AND pod IN (SELECT pod FROM agg)
    )
    GROUP BY pod
)
SELECT a.pod, a.service, a.peer, a.calls, round(w.window_min, 3) AS window_min,
       round(act.active_min, 3) AS active_min,
       round(a.calls / act.active_min, 2) AS calls_per_min,
       a.first_call, a.last_call,
       (SELECT count(*) FROM ev WHERE kind = 'worker_start' AND ev.pod = a.pod) AS worker_starts,
       (SELECT count(*) FROM ev WHERE kind = 'worker_exit' AND ev.pod = a.pod) AS deaths,
       (SELECT round(corr(c, s), 3) FROM per_sec p WHERE p.pod = a.pod) AS corr_calls_starts,
       a.basis
FROM agg a CROSS JOIN w JOIN active act USING (pod)
ORDER BY deaths DESC, calls DESC, a.pod;
