-- worker_sizing.sql: pod starts that forked more workers than the container's CPU limit.
--
-- Measures, per pod start in the window, the worker count the primary announced ("forking N
-- workers", kind cpu_count with attrs.basis = worker_count), the CPU count the same pod logged
-- within 60 s before it (os.cpus(): the host's cores), and the CPU limit of the pod (or, without
-- a pod object of its own, of a sibling pod of the service). Workers equal to the cores seen is
-- the sign the count was sized from the host, not from the quota.
-- Parameters: $since, $until (TIMESTAMPTZ window), $min_ratio (DOUBLE: workers / limit above
--   which a start is listed).
-- Columns: ts, pod, service, host, workers, cpu_count_seen (NULL when no CPU-count line),
--   cpu_limit (cores), limit_basis, workers_over_limit (workers / cpu_limit),
--   source_id, line_no, message (the forking line).
WITH forks AS (
    SELECT * FROM events
    WHERE kind = 'cpu_count' AND attrs->>'basis' = 'worker_count' AND pod IS NOT NULL AND cpu_count IS NOT NULL
      AND ts >= $since::TIMESTAMPTZ AND ts < $until::TIMESTAMPTZ
    QUALIFY row_number() OVER (PARTITION BY pod, ts, message ORDER BY host IS NULL, source_id, line_no) = 1
),
seen AS (
    SELECT f.pod, f.ts, max(c.cpu_count) AS cpu_count_seen
    FROM forks f JOIN events c
      ON c.pod = f.pod AND c.kind = 'cpu_count' AND coalesce(c.attrs->>'basis', '') <> 'worker_count'
     AND c.ts BETWEEN f.ts - INTERVAL 60 SECOND AND f.ts
    GROUP BY ALL
),
spec AS (
    SELECT pod, service, host,
           TRY_CAST(attrs->>'cpu_limit' AS DOUBLE) AS lim
    FROM events WHERE kind = 'pod_spec' AND pod IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY pod ORDER BY ts DESC NULLS LAST) = 1
),
svc_spec AS (SELECT service, max(lim) AS lim FROM spec GROUP BY service)
SELECT f.ts, f.pod, f.service, coalesce(f.host, s.host) AS host, f.cpu_count AS workers,
       sn.cpu_count_seen,
       coalesce(s.lim, ss.lim) AS cpu_limit,
       CASE WHEN s.lim IS NOT NULL THEN 'pod_spec.limit' WHEN ss.lim IS NOT NULL THEN 'sibling_pod_spec.limit' END AS limit_basis,
       round(f.cpu_count / coalesce(s.lim, ss.lim), 2) AS workers_over_limit,
       f.source_id, f.line_no, f.message
FROM forks f
LEFT JOIN seen sn ON sn.pod = f.pod AND sn.ts = f.ts
LEFT JOIN spec s ON s.pod = f.pod
LEFT JOIN svc_spec ss ON ss.service = f.service
WHERE coalesce(s.lim, ss.lim) > 0 AND f.cpu_count / coalesce(s.lim, ss.lim) > $min_ratio::DOUBLE
ORDER BY f.ts, f.pod;
