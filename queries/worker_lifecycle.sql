-- worker_lifecycle.sql: worker starts, exits, lifetimes, death rate and respawn latency per pod.
--
-- Measures, per pod with worker or CPU-count lines in the window: how many workers started and
-- died, how long they lived (death minus the last start of the same pid), how many died in the
-- worst second, how fast the primary replaced them (death to the next start in the same pod, an
-- ASOF join), whether that delay grows (backoff) or stays flat (instant respawn), and whether a
-- circuit breaker opened.
-- Lifecycle: a worker exit is a graceful stop (not a death) when its exit code is 0, the log calls
-- it graceful, or it is a SIGTERM/SIGINT/SIGQUIT/SIGHUP exit within 60 s after the pod logged a
-- shutdown or reload (`received SIGTERM`, `shutting down gracefully`, nginx's `signal 1 (SIGHUP)
-- received, reconfiguring`); else a crash (non-zero exit code, or a fault signal: SIGSEGV, SIGABRT,
-- SIGBUS, SIGILL, SIGFPE, SIGSYS, SIGTRAP), a kill (any other signal: SIGKILL, an unannounced
-- SIGTERM; or a supervisor's timeout kill, exit_mode timeout: gunicorn's WORKER TIMEOUT) or a death
-- of unknown mode. Signals logged by number (`exited on signal 9`) are named
-- at ingest (parsers/catalogue.py). One start per pid: `Worker N online` and `Worker N
-- started` for the same pid are one start, unless the pid exited in between.
-- Parameters: $since, $until (TIMESTAMPTZ window), $service (VARCHAR or NULL).
-- Columns: pod, service, host, starts, exits (= deaths: not graceful), graceful_exits, crash_exits,
--   killed_exits, sigkill_exits, first_exit, last_exit (TIMESTAMPTZ, of deaths), median_lifetime_s,
--   p90_lifetime_s (seconds, deaths whose start is in the window), peak_deaths_per_s (deaths in the
--   worst one-second bucket), peak_second (TIMESTAMPTZ), mean_deaths_per_s (deaths / seconds
--   between first and last death), median_respawn_latency_s, p90_respawn_latency_s,
--   max_respawn_latency_s (seconds), backoff_ratio (median latency of the last third of deaths /
--   that of the first third; about 1 = no backoff), respawn_backs_off (BOOLEAN, ratio > 2),
--   exit_codes (of deaths, e.g. 'SIGKILL:120, 1:3'), circuit_opens (circuit-breaker-open lines),
--   first_circuit_open (TIMESTAMPTZ), circuit_source_id, circuit_line_no, circuit_message (the first).
-- The same line seen through two exports counts once. Run with SET TimeZone = 'UTC'.
WITH ev AS (
    SELECT * FROM (
        SELECT *, row_number() OVER (PARTITION BY source_id, kind, pod, ts, message ORDER BY line_no) AS occ
        FROM events
        WHERE ts >= $since::TIMESTAMPTZ AND ts < $until::TIMESTAMPTZ
          AND kind IN ('worker_start', 'worker_exit', 'cpu_count', 'primary_start', 'circuit_open')
          AND pod IS NOT NULL
          AND ($service::VARCHAR IS NULL OR starts_with(pod, $service::VARCHAR || '-')
               OR service IN ($service::VARCHAR, $service::VARCHAR || '-service'))
    )
    -- the same line seen through two exports counts once; repeated lines of one source (occ) stay apart
    QUALIFY row_number() OVER (PARTITION BY kind, pod, ts, message, occ ORDER BY host IS NULL, source_id, line_no) = 1
),
pods AS (
    SELECT pod, any_value(service) AS service, max(host) AS host FROM ev GROUP BY pod
),
all_exits AS (
    SELECT x.pod, x.pid, x.ts, x.line_no, x.exit_code, x.signal, lower(x.attrs->>'exit_mode') AS exit_mode,
           coalesce(x.exit_code = 0 OR lower(x.attrs->>'exit_mode') = 'graceful'
                    OR (x.signal IN ('SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP')
                        AND {'p': x.pod, 't': x.ts} IN (  -- exits within 60 s after their pod's shutdown: one join, not a subquery per row
                         SELECT DISTINCT {'p': x.pod, 't': x.ts} FROM events x JOIN events sd
                           ON sd.kind = 'shutdown' AND sd.pod IS NOT DISTINCT FROM x.pod AND sd.ts BETWEEN x.ts - INTERVAL 60 SECOND AND x.ts
                         WHERE x.kind = 'worker_exit' AND x.signal IN ('SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP'))), false) AS graceful
    FROM ev x WHERE x.kind = 'worker_exit'
),
announced AS (
    SELECT pod, pid, ts, lag(ts) OVER (PARTITION BY pod, pid ORDER BY ts, line_no) AS prev_ts
    FROM ev WHERE kind = 'worker_start'
),
starts AS (
    -- one start per pid: a second announcement of the same pid counts only after that pid exited
    SELECT a.pod, a.pid, a.ts FROM announced a
    WHERE a.pid IS NULL OR a.prev_ts IS NULL
       OR EXISTS (SELECT 1 FROM all_exits x WHERE x.pod = a.pod AND x.pid = a.pid AND x.ts > a.prev_ts AND x.ts <= a.ts)
),
exits AS (
    SELECT pod, pid, ts, exit_code, signal, exit_mode,
           row_number() OVER (PARTITION BY pod ORDER BY ts, line_no) AS death_no,
           count(*) OVER (PARTITION BY pod) AS n_deaths
    FROM all_exits WHERE NOT graceful
),
g_agg AS (SELECT pod, count(*) FILTER (WHERE graceful) AS graceful_exits FROM all_exits GROUP BY pod),
circuit AS (
    SELECT pod, count(*) AS circuit_opens, min(ts) AS first_circuit_open,
           arg_min(source_id, ts) AS circuit_source_id, arg_min(line_no, ts) AS circuit_line_no,
           arg_min(message, ts) AS circuit_message
    FROM ev WHERE kind = 'circuit_open' GROUP BY pod
),
life AS (
    SELECT x.pod, epoch(x.ts - s.ts) AS lifetime_s
    FROM exits x ASOF JOIN starts s ON x.pod = s.pod AND x.pid = s.pid AND x.ts >= s.ts
),
respawn AS (
    SELECT x.pod, x.death_no, x.n_deaths, epoch(s.ts - x.ts) AS latency_s
    FROM exits x ASOF JOIN starts s ON x.pod = s.pod AND s.ts >= x.ts
),
per_second AS (
    SELECT pod, sec, n FROM (
        SELECT pod, date_trunc('second', ts) AS sec, count(*) AS n FROM exits GROUP BY pod, sec
    )
    QUALIFY row_number() OVER (PARTITION BY pod ORDER BY n DESC, sec) = 1
),
codes AS (
    SELECT pod, string_agg(code || ':' || n, ', ' ORDER BY n DESC, code) AS exit_codes
    FROM (SELECT pod, coalesce(signal, CAST(exit_code AS VARCHAR), exit_mode, '?') AS code, count(*) AS n
          FROM exits GROUP BY pod, code)
    GROUP BY pod
),
s_agg AS (SELECT pod, count(*) AS starts FROM starts GROUP BY pod),
x_agg AS (
    SELECT pod, count(*) AS exits, count(*) FILTER (WHERE signal = 'SIGKILL') AS sigkill_exits,
           count(*) FILTER (WHERE (exit_code IS NOT NULL AND exit_code <> 0) OR signal IN ('SIGSEGV', 'SIGABRT', 'SIGBUS', 'SIGILL', 'SIGFPE', 'SIGSYS', 'SIGTRAP')) AS crash_exits,
           count(*) FILTER (WHERE (signal IS NOT NULL AND signal NOT IN ('SIGSEGV', 'SIGABRT', 'SIGBUS', 'SIGILL', 'SIGFPE', 'SIGSYS', 'SIGTRAP')
                             AND coalesce(exit_code, 0) = 0)
                            OR (exit_mode = 'timeout' AND signal IS NULL AND exit_code IS NULL)) AS killed_exits,
           min(ts) AS first_exit, max(ts) AS last_exit,
           CASE WHEN count(*) > 1 AND epoch(max(ts) - min(ts)) > 0
                THEN round(count(*) / epoch(max(ts) - min(ts)), 3) END AS mean_deaths_per_s
    FROM exits GROUP BY pod
),
l_agg AS (
    SELECT pod, round(median(lifetime_s), 3) AS median_lifetime_s,
           round(quantile_cont(lifetime_s, 0.9), 3) AS p90_lifetime_s
    FROM life GROUP BY pod
),
r_agg AS (
    SELECT pod, round(median(latency_s), 3) AS median_respawn_latency_s,
           round(quantile_cont(latency_s, 0.9), 3) AS p90_respawn_latency_s,
           round(max(latency_s), 3) AS max_respawn_latency_s,
           round(median(latency_s) FILTER (WHERE death_no > 2 * n_deaths / 3.0)
                 / nullif(median(latency_s) FILTER (WHERE death_no <= n_deaths / 3.0), 0), 2) AS backoff_ratio
    FROM respawn GROUP BY pod
)
SELECT p.pod, p.service, p.host,
       coalesce(sa.starts, 0) AS starts,
       coalesce(xa.exits, 0) AS exits,
       coalesce(ga.graceful_exits, 0) AS graceful_exits,
       coalesce(xa.crash_exits, 0) AS crash_exits,
       coalesce(xa.killed_exits, 0) AS killed_exits,
       coalesce(xa.sigkill_exits, 0) AS sigkill_exits,
       xa.first_exit, xa.last_exit,
       la.median_lifetime_s, la.p90_lifetime_s,
       coalesce(ps.n, 0) AS peak_deaths_per_s, ps.sec AS peak_second,
       xa.mean_deaths_per_s,
       ra.median_respawn_latency_s, ra.p90_respawn_latency_s, ra.max_respawn_latency_s,
       ra.backoff_ratio,
       coalesce(ra.backoff_ratio > 2, false) AS respawn_backs_off,
       c.exit_codes,
       coalesce(ci.circuit_opens, 0) AS circuit_opens, ci.first_circuit_open,
       ci.circuit_source_id, ci.circuit_line_no, ci.circuit_message
FROM pods p
LEFT JOIN s_agg sa ON sa.pod = p.pod
LEFT JOIN x_agg xa ON xa.pod = p.pod
LEFT JOIN l_agg la ON la.pod = p.pod
LEFT JOIN r_agg ra ON ra.pod = p.pod
LEFT JOIN per_second ps ON ps.pod = p.pod
LEFT JOIN codes c ON c.pod = p.pod
LEFT JOIN g_agg ga ON ga.pod = p.pod
LEFT JOIN circuit ci ON ci.pod = p.pod
ORDER BY exits DESC, p.pod;
