-- host_shape_survey.sql: every CPU count a service saw at pod start, over the whole history.
--
-- Measures: one observation per pod start (a pod's CPU-count lines more than 60 s apart are
-- separate starts; an explicit "Number of CPUs" line is preferred over a "forking N workers"
-- line), how often each value occurs, and the container CPU limit it should have been.
-- Node's os.cpus() reports the host's cores, not the container's quota: observed cores far
-- above the limit is that leak. The limit is that of the container that logged the CPU count
-- (by name; else the container named after the service; else the pod's biggest), never a sidecar's.
-- Parameters: $since, $until (TIMESTAMPTZ: the incident window, only to mark in_window),
--             $rare_share (DOUBLE, a value seen in at most this share of starts is rare),
--             $rare_starts (INTEGER) and $rare_share_strict (DOUBLE): a value seen in at most
--             $rare_starts starts, or in under $rare_share_strict of them, above the usual
--             range (the 90th percentile of all starts), with 10 starts or more, is rare too.
-- The history counts the pod starts `pmortem prune` rolled up into cpu_count_history as well.
-- Columns: ts (TIMESTAMPTZ of the observation), pod, service, host (node; from the log or the pod
--   object), cpu_count (cores seen), observations_of_value (starts that saw this value),
--   observations_total (all starts), share (observations_of_value / observations_total),
--   median_cpu_count, max_other_cpu_count (largest other value), cpu_limit (cores, DOUBLE),
--   limit_basis (pod_spec.limit | pod_spec.request | sibling_pod_spec.limit | sibling_pod_spec.request | NULL),
--   cores_over_limit (cpu_count / cpu_limit), p90_cpu_count, is_outlier (seen in at most $rare_share of
--   starts and more than twice the median; or in at most a quarter of starts and more than twice
--   every other value; or, with fewer than 10 starts, more than twice every other value; or rare
--   by $rare_starts / $rare_share_strict and above the p90), in_window (BOOLEAN),
--   source_id, line_no, message (the quoted line).
WITH raw AS (
    SELECT *, coalesce(attrs->>'basis', '') = 'worker_count' AS from_worker_count
    FROM events
    WHERE kind = 'cpu_count' AND ts IS NOT NULL AND pod IS NOT NULL AND cpu_count IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY pod, ts, message ORDER BY host IS NULL, source_id, line_no) = 1
),
numbered AS (
    SELECT *, sum(CASE WHEN prev_ts IS NULL OR ts - prev_ts > INTERVAL 60 SECOND THEN 1 ELSE 0 END)
                  OVER (PARTITION BY pod ORDER BY ts, line_no) AS start_no
    FROM (SELECT *, lag(ts) OVER (PARTITION BY pod ORDER BY ts, line_no) AS prev_ts FROM raw)
),
obs AS (
    SELECT * FROM numbered
    QUALIFY row_number() OVER (PARTITION BY pod, start_no ORDER BY from_worker_count, ts, line_no) = 1
),
spec_c AS (
    -- one row per pod and container (a pod spec lists each container with its own resources)
    SELECT pod, container, service, host,
           TRY_CAST(attrs->>'cpu_limit' AS DOUBLE) AS lim,
           TRY_CAST(attrs->>'cpu_request' AS DOUBLE) AS req
    FROM events WHERE kind = 'pod_spec' AND pod IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY pod, container ORDER BY ts DESC NULLS LAST) = 1
),
spec AS (
    -- the container that logged the CPU count: its own name, else the one named after the
    -- service, else the biggest (a sidecar's 0.2 CPU is not the app's limit)
    SELECT o.source_id, o.line_no, s.pod, s.service, s.host, s.lim, s.req
    FROM obs o JOIN spec_c s ON s.pod = o.pod
    QUALIFY row_number() OVER (PARTITION BY o.source_id, o.line_no
                               ORDER BY (s.container IS NOT DISTINCT FROM o.container) DESC,
                                        (s.container IS NOT DISTINCT FROM o.service) DESC,
                                        coalesce(s.lim, s.req) DESC NULLS LAST, s.container) = 1
),
svc_spec AS (
    SELECT service, max(lim) AS lim, max(req) AS req FROM spec_c GROUP BY service
),
rolled AS (SELECT cpu_count, unnest(range(starts)) FROM cpu_count_history),  -- pruned starts, one row each
every AS (SELECT cpu_count FROM obs UNION ALL SELECT cpu_count FROM rolled),
dist AS (SELECT cpu_count, count(*) AS n FROM every GROUP BY cpu_count),
tot AS (SELECT sum(n) AS total, (SELECT median(cpu_count) FROM every) AS med,
                (SELECT quantile_disc(cpu_count, 0.9) FROM every) AS p90 FROM dist),
other AS (
    SELECT d1.cpu_count, max(d2.cpu_count) AS max_other
    FROM dist d1 LEFT JOIN dist d2 ON d2.cpu_count <> d1.cpu_count GROUP BY d1.cpu_count
)
SELECT o.ts, o.pod, o.service, coalesce(o.host, s.host) AS host, o.cpu_count,
       d.n AS observations_of_value, t.total AS observations_total,
       round(d.n / t.total, 4) AS share,
       t.med AS median_cpu_count,
       ot.max_other AS max_other_cpu_count,
       coalesce(s.lim, s.req, ss.lim, ss.req) AS cpu_limit,
       CASE WHEN s.lim IS NOT NULL THEN 'pod_spec.limit'
            WHEN s.req IS NOT NULL THEN 'pod_spec.request'
            WHEN ss.lim IS NOT NULL THEN 'sibling_pod_spec.limit'
            WHEN ss.req IS NOT NULL THEN 'sibling_pod_spec.request' END AS limit_basis,
       round(o.cpu_count / coalesce(s.lim, s.req, ss.lim, ss.req), 2) AS cores_over_limit,
       t.p90 AS p90_cpu_count,
       ((d.n / t.total <= $rare_share::DOUBLE AND o.cpu_count > 2 * t.med)
        OR (d.n / t.total <= 0.25 AND o.cpu_count > 2 * coalesce(ot.max_other, o.cpu_count))
        OR (t.total < 10 AND o.cpu_count > 2 * coalesce(ot.max_other, o.cpu_count))
        OR (t.total >= 10 AND (d.n <= $rare_starts::INTEGER OR d.n / t.total < $rare_share_strict::DOUBLE)
            AND o.cpu_count > t.p90)) AS is_outlier,
       (o.ts >= $since::TIMESTAMPTZ AND o.ts < $until::TIMESTAMPTZ) AS in_window,
       o.source_id, o.line_no, o.message
FROM obs o
JOIN dist d USING (cpu_count)
JOIN other ot USING (cpu_count)
CROSS JOIN tot t
LEFT JOIN spec s ON s.source_id = o.source_id AND s.line_no = o.line_no
LEFT JOIN svc_spec ss ON ss.service = o.service
ORDER BY o.ts, o.pod;
