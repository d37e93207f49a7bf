-- worker_lifecycle.sql: worker starts, exits, lifetimes, death rate and respawn latency per pod.
--
-- Measures, per pod with worker or CPU-count lines in the window: how many workers started and
-- exited, how long they lived (exit minus the last start of the same pid), how many died in the
-- worst second, how fast the primary replaced them (exit to the next start in the same pod, an
-- ASOF join) and whether that delay grows (backoff) or stays flat (instant respawn).
-- Parameters: $since, $until (TIMESTAMPTZ window), $service (VARCHAR or NULL).
-- Columns: pod, service, host, starts, exits (= deaths), sigkill_exits, first_exit, last_exit
--   (TIMESTAMPTZ), median_lifetime_s, p90_lifetime_s (seconds, exits whose start is in the window),
--   peak_deaths_per_s (exits in the worst one-second bucket), peak_second (TIMESTAMPTZ),
--   mean_deaths_per_s (exits / seconds between first and last exit), median_respawn_latency_s,
--   p90_respawn_latency_s, max_respawn_latency_s (seconds), backoff_ratio (median latency of the
--   last third of exits / that of the first third; about 1 = no backoff), respawn_backs_off (BOOLEAN,
--   ratio > 2), exit_codes (e.g. 'SIGKILL:120, 1:3').
-- The same line seen through two exports counts once. Run with SET TimeZone = 'UTC'.
WITH ev AS (
    SELECT * FROM events
    WHERE ts >= $since::TIMESTAMPTZ AND ts < $until::TIMESTAMPTZ
      AND kind IN ('worker_start', 'worker_exit', 'cpu_count', 'primary_start')
      AND pod IS NOT NULL
      AND ($service::VARCHAR IS NULL OR starts_with(pod, $service::VARCHAR || '-')
           OR service IN ($service::VARCHAR, $service::VARCHAR || '-service'))
    QUALIFY row_number() OVER (PARTITION BY kind, pod, ts, message ORDER BY host IS NULL, source_id, line_no) = 1
),
pods AS (
    SELECT pod, any_value(service) AS service, max(host) AS host FROM ev GROUP BY pod
),
starts AS (SELECT pod, pid, ts FROM ev WHERE kind = 'worker_start'),
exits AS (
    SELECT pod, pid, ts, exit_code, signal,
           row_number() OVER (PARTITION BY pod ORDER BY ts, line_no) AS death_no,
           count(*) OVER (PARTITION BY pod) AS n_deaths
    FROM ev WHERE kind = 'worker_exit'
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
    FROM (SELECT pod, coalesce(signal, CAST(exit_code AS VARCHAR), '?') AS code, count(*) AS n
          FROM exits GROUP BY pod, code)
    GROUP BY pod
),
s_agg AS (SELECT pod, count(*) AS starts FROM starts GROUP BY pod),
x_agg AS (
    SELECT pod, count(*) AS exits, count(*) FILTER (WHERE signal = 'SIGKILL') AS sigkill_exits,
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
       coalesce(xa.sigkill_exits, 0) AS sigkill_exits,
       xa.first_exit, xa.last_exit,
       la.median_lifetime_s, la.p90_lifetime_s,
       coalesce(ps.n, 0) AS peak_deaths_per_s, ps.sec AS peak_second,
       xa.mean_deaths_per_s,
       ra.median_respawn_latency_s, ra.p90_respawn_latency_s, ra.max_respawn_latency_s,
       ra.backoff_ratio,
       coalesce(ra.backoff_ratio > 2, false) AS respawn_backs_off,
       c.exit_codes
FROM pods p
LEFT JOIN s_agg sa ON sa.pod = p.pod
LEFT JOIN x_agg xa ON xa.pod = p.pod
LEFT JOIN l_agg la ON la.pod = p.pod
LEFT JOIN r_agg ra ON ra.pod = p.pod
LEFT JOIN per_second ps ON ps.pod = p.pod
LEFT JOIN codes c ON c.pod = p.pod
ORDER BY exits DESC, p.pod;
