-- uneven_worker_load.sql: requests per worker PID inside one pod (one worker doing most of the work).
--
-- Measures, per pod whose request lines carry the serving worker's PID (access lines with a pid, or
-- the workers' own `request completed` lines), over the window, from the `requests` rollup (every
-- request counted there, per pod, pid, second, route and status): requests per PID (workers the pod
-- started in the window but that served nothing count with 0), the rate over the pod's request span,
-- the share of the pod's requests, p50/p99 of the request duration (ms, over the rollup's latencies),
-- 5xx per PID; and per pod the busiest PID, its requests over the median of the
-- other PIDs', and max over min. A rollup second that straddles the window's edge counts whole.
-- Parameters: $since, $until (TIMESTAMPTZ window), $min_requests (INTEGER: pods with fewer requests are skipped).
-- Columns: pod, service, pid, requests, req_per_s, share, p50_ms, p99_ms, http_5xx, first_request,
--   last_request (TIMESTAMPTZ, the PID's), pod_requests, pod_first_request, pod_span_s, pids, busiest_pid,
--   busiest_vs_median_other, max_over_min, others_median_p99_ms.
-- Run with SET TimeZone = 'UTC'.
WITH roll AS (
    SELECT * FROM requests
    WHERE pid IS NOT NULL AND pod IS NOT NULL AND last_ts >= $since::TIMESTAMPTZ AND first_ts < $until::TIMESTAMPTZ
),
req AS (  -- per pod and PID
    SELECT pod, any_value(service) AS service, pid, sum(requests) AS requests, min(first_ts) AS first_request,
           max(last_ts) AS last_request, sum(requests) FILTER (WHERE status >= 500) AS http_5xx
    FROM roll GROUP BY pod, pid
),
quant AS (
    SELECT pod, pid, quantile_cont(l, 0.5) AS p50_ms, quantile_cont(l, 0.99) AS p99_ms
    FROM (SELECT pod, pid, unnest(latencies_ms) AS l FROM roll) GROUP BY pod, pid
),
pods AS (
    SELECT pod, any_value(service) AS service, sum(requests) AS pod_requests, min(first_request) AS pod_first_request,
           greatest(epoch(max(last_request)) - epoch(min(first_request)), 1) AS pod_span_s
    FROM req GROUP BY pod HAVING sum(requests) >= $min_requests::INTEGER
),
started AS (  -- workers started in the window that may have served nothing
    SELECT DISTINCT w.pod, w.pid FROM events w JOIN pods p USING (pod)
    WHERE w.kind = 'worker_start' AND w.pid IS NOT NULL AND w.ts >= $since::TIMESTAMPTZ AND w.ts < $until::TIMESTAMPTZ
      AND w.ts <= p.pod_first_request + INTERVAL 1 SECOND * p.pod_span_s
),
per_pid AS (
    SELECT p.pod, p.service, x.pid, coalesce(r.requests, 0) AS requests,
           coalesce(r.requests, 0) / p.pod_span_s AS req_per_s, coalesce(r.requests, 0) / p.pod_requests AS share,
           q.p50_ms, q.p99_ms, coalesce(r.http_5xx, 0) AS http_5xx, r.first_request, r.last_request,
           p.pod_requests, p.pod_first_request, p.pod_span_s
    FROM pods p
    JOIN (SELECT pod, pid FROM req UNION SELECT pod, pid FROM started) x USING (pod)
    LEFT JOIN req r ON r.pod = x.pod AND r.pid = x.pid
    LEFT JOIN quant q ON q.pod = x.pod AND q.pid = x.pid
),
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY pod ORDER BY requests DESC, pid) AS rk,
           count(*) OVER (PARTITION BY pod) AS pids
    FROM per_pid
),
pod_stats AS (
    SELECT pod, any_value(pid) FILTER (WHERE rk = 1) AS busiest_pid,
           max(requests) FILTER (WHERE rk = 1) / nullif(median(requests) FILTER (WHERE rk > 1), 0) AS busiest_vs_median_other,
           max(requests) / nullif(min(requests), 0) AS max_over_min,
           median(p99_ms) FILTER (WHERE rk > 1) AS others_median_p99_ms
    FROM ranked GROUP BY pod
)
SELECT r.pod, r.service, r.pid, r.requests, round(r.req_per_s, 3) AS req_per_s, round(r.share, 3) AS share,
       round(r.p50_ms, 1) AS p50_ms, round(r.p99_ms, 1) AS p99_ms, r.http_5xx, r.first_request, r.last_request,
       r.pod_requests, r.pod_first_request, round(r.pod_span_s, 1) AS pod_span_s, r.pids, s.busiest_pid,
       round(s.busiest_vs_median_other, 2) AS busiest_vs_median_other, round(s.max_over_min, 2) AS max_over_min,
       round(s.others_median_p99_ms, 1) AS others_median_p99_ms
FROM ranked r JOIN pod_stats s USING (pod)
WHERE r.pids >= 2
ORDER BY s.busiest_vs_median_other DESC NULLS LAST, r.pod, r.requests DESC, r.pid;
