-- worker_timeouts.sql: workers a supervisor killed for running past their timeout, and the request
-- each one was serving.
--
-- Measures, per kill (worker exits with exit_mode 'timeout': gunicorn's `WORKER TIMEOUT (pid:N)`,
-- uWSGI's harakiri) in the window: the request in flight, from the lines of the same pod within
-- $tolerance_s of the kill that name a request (`GET /path`): the one naming the killed pid first
-- (gunicorn's worker logs `[pid] Error handling request GET /path` as it dies), else the nearest;
-- and the 5xx responses any access log or proxy logged within $tolerance_s of the kill.
-- Routes as templates: ids (numbers, UUIDs, long hex) become :id, other digit runs <n>.
-- Parameters: $since, $until (TIMESTAMPTZ window), $tolerance_s (DOUBLE seconds).
-- Columns, one row per kill: pod, service, host, pid, kill_ts, kill_source_id, kill_line_no,
--   kill_message, method, route (raw), route_t (template), req_source_id, req_line_no, req_message
--   (NULL when no line names a request), names_pid (the request line names the killed pid),
--   http_5xx_near (per pod: 5xx responses within $tolerance_s of one of its kills, each once),
--   http_5xx_same_route (of those, on a route template a killed worker was serving).
-- The same line seen through two exports counts once. Run with SET TimeZone = 'UTC'.
WITH kills AS (
    SELECT pod, service, host, pid, ts, source_id, line_no, message
    FROM events
    WHERE kind = 'worker_exit' AND lower(attrs->>'exit_mode') = 'timeout' AND pod IS NOT NULL
      AND ts >= $since::TIMESTAMPTZ AND ts < $until::TIMESTAMPTZ
    QUALIFY row_number() OVER (PARTITION BY pod, pid, ts, message ORDER BY source_id, line_no) = 1
),
req_lines AS (  -- lines near the kills that name a request
    SELECT e.pod, e.ts, e.source_id, e.line_no, e.message,
           regexp_extract(e.message, '\b(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /', 1) AS method,
           regexp_extract(e.message, '\b(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (/[^\s?"]*)', 1) AS route
    FROM events e
    WHERE e.ts >= $since::TIMESTAMPTZ - to_microseconds(CAST($tolerance_s * 1e6 AS BIGINT))
      AND e.ts < $until::TIMESTAMPTZ + to_microseconds(CAST($tolerance_s * 1e6 AS BIGINT))
      AND e.kind NOT IN ('worker_exit', 'http_request', 'span') AND e.pod IN (SELECT pod FROM kills)
      AND regexp_matches(e.message, '\b(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /')
),
inflight AS (
    SELECT k.pod, k.pid, k.ts, r.method, r.route, r.source_id, r.line_no, r.message,
           regexp_matches(r.message, '(?:^|[^0-9])' || k.pid || '(?:[^0-9]|$)') AS names_pid
    FROM kills k JOIN req_lines r
      ON r.pod = k.pod AND abs(epoch(r.ts - k.ts)) <= $tolerance_s::DOUBLE
    QUALIFY row_number() OVER (PARTITION BY k.pod, k.pid, k.ts
                               ORDER BY names_pid DESC, abs(epoch(r.ts - k.ts)), r.source_id, r.line_no) = 1
),
tmpl AS (
    SELECT k.pod, k.service, k.host, k.pid, k.ts, k.source_id, k.line_no, k.message, i.method, i.route,
           regexp_replace(
           regexp_replace(regexp_replace(i.route, '/(?:[0-9]+|[0-9a-fA-F]{8}-[0-9a-fA-F-]{27,}|[0-9a-f]{16,})(/|$)', '/:id\1', 'g'),
                          '/(?:[0-9]+|[0-9a-fA-F]{8}-[0-9a-fA-F-]{27,}|[0-9a-f]{16,})(/|$)', '/:id\1', 'g'),
           '[0-9]+', '<n>', 'g') AS route_t,
           i.source_id AS req_source_id, i.line_no AS req_line_no, i.message AS req_message,
           coalesce(i.names_pid, false) AS names_pid
    FROM kills k
    LEFT JOIN inflight i ON i.pod = k.pod AND i.pid IS NOT DISTINCT FROM k.pid AND i.ts = k.ts
),
near5xx AS (  -- each 5xx response once, by the kill nearest to it (the kills lie in the window, so the responses
    -- within $tolerance_s of one lie in the window widened by it: a bound the scan of `events` prunes row groups by)
    SELECT k.pod, h.source_id, h.line_no,
           regexp_replace(
           regexp_replace(regexp_replace(regexp_extract(coalesce(h.route, ''), '^[^?]*'), '/(?:[0-9]+|[0-9a-fA-F]{8}-[0-9a-fA-F-]{27,}|[0-9a-f]{16,})(/|$)', '/:id\1', 'g'),
                          '/(?:[0-9]+|[0-9a-fA-F]{8}-[0-9a-fA-F-]{27,}|[0-9a-f]{16,})(/|$)', '/:id\1', 'g'),
           '[0-9]+', '<n>', 'g') AS route_t
    FROM tmpl k JOIN events h
      ON h.kind = 'http_request' AND h.status >= 500 AND abs(epoch(h.ts - k.ts)) <= $tolerance_s::DOUBLE
     AND h.ts >= $since::TIMESTAMPTZ - to_microseconds(CAST($tolerance_s * 1e6 AS BIGINT) + 1)
     AND h.ts <= $until::TIMESTAMPTZ + to_microseconds(CAST($tolerance_s * 1e6 AS BIGINT) + 1)
    QUALIFY row_number() OVER (PARTITION BY h.source_id, h.line_no ORDER BY abs(epoch(h.ts - k.ts)), k.ts) = 1
),
per_pod AS (
    SELECT t.pod, count(n.line_no) AS http_5xx_near,
           count(n.line_no) FILTER (WHERE n.route_t IN (SELECT route_t FROM tmpl x WHERE x.pod = t.pod AND x.route_t IS NOT NULL)) AS http_5xx_same_route
    FROM (SELECT DISTINCT pod FROM tmpl) t LEFT JOIN near5xx n USING (pod)
    GROUP BY t.pod
)
SELECT t.pod, t.service, t.host, t.pid, t.ts AS kill_ts, t.source_id AS kill_source_id, t.line_no AS kill_line_no,
       t.message AS kill_message, t.method, t.route, t.route_t, t.req_source_id, t.req_line_no, t.req_message,
       t.names_pid, p.http_5xx_near, p.http_5xx_same_route
FROM tmpl t JOIN per_pod p USING (pod)
ORDER BY t.pod, t.ts, t.pid;
