-- connection_pool.sql: connection-pool multiplication (workers x pool size against the database's limit).
--
-- Measures, per application pod that logged its pool settings: the worker count (a `config` line's
-- `WORKERS=`/`workers:`, else the distinct worker PIDs that started), the pool size per worker
-- (`PG_POOL_MAX=`, `pool max=`, `pool_size:` ...), the database's limit (`max_connections=` from
-- the pod's own lines, else from the database pod's, with `superuser_reserved_connections`), and
-- inside the window: the client-side `too many clients/connections` errors (count, first, per PID),
-- the server-side ones of the database pod whose errors pair best with them in time (within
-- $tolerance_s: ASOF join to the nearest server error), and the 5xx a proxy returned for the pod
-- (its upstream address mapped to the pod by pod IP or by the address the pod listens on) within
-- $tolerance_s of a client error.
-- Parameters: $since, $until (TIMESTAMPTZ window), $tolerance_s (DOUBLE), $upstreams (BOOLEAN: whether any
--   response names an upstream address, queries/upstreams.sql; false skips the look for listen lines).
-- Columns: pod, service, workers, workers_basis, pool_max, connections_wanted (workers x pool_max),
--   max_connections, reserved_connections, limit_pod, client_errors, client_pids, client_errors_by_pid
--   ('pid:n, ...'), first_client_error, last_client_error, db_pod, server_errors, first_server_error,
--   pairs (client errors with a server error within $tolerance_s), http_5xx, http_5xx_paired,
--   first_5xx, config_source_id, config_line_no, config_message, limit_source_id, limit_line_no,
--   limit_message, server_source_id, server_line_no, server_message, client_source_id, client_line_no,
--   client_message.
-- Duplicates (the same line seen through two exports) count once. Run with SET TimeZone = 'UTC'.
WITH cfg AS (
    SELECT pod, any_value(service) AS service, ts, source_id, line_no, message,
           TRY_CAST(attrs->>'workers' AS INTEGER) AS workers, TRY_CAST(attrs->>'pool_max' AS INTEGER) AS pool_max,
           TRY_CAST(attrs->>'max_connections' AS INTEGER) AS max_conn,
           TRY_CAST(attrs->>'reserved_connections' AS INTEGER) AS reserved
    FROM events WHERE kind = 'config' AND pod IS NOT NULL AND ts < $until::TIMESTAMPTZ
    GROUP BY ALL
),
pool_pods AS (  -- the newest config line naming a pool size, per pod
    SELECT pod, service, pool_max, workers AS cfg_workers, source_id, line_no, message, ts
    FROM cfg WHERE pool_max IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY pod ORDER BY ts DESC, line_no DESC) = 1
),
started AS (
    SELECT p.pod, count(DISTINCT w.pid) AS n
    FROM pool_pods p JOIN events w ON w.pod = p.pod AND w.kind = 'worker_start' AND w.ts >= p.ts AND w.ts < $until::TIMESTAMPTZ
    GROUP BY p.pod
),
client AS (
    SELECT * FROM events
    WHERE error_class = 'too_many_connections' AND ts >= $since::TIMESTAMPTZ AND ts < $until::TIMESTAMPTZ
      AND pod IN (SELECT pod FROM pool_pods)
    QUALIFY row_number() OVER (PARTITION BY pod, ts, message ORDER BY source_id, line_no) = 1
),
server AS (
    SELECT * FROM events
    WHERE error_class = 'too_many_connections' AND ts >= $since::TIMESTAMPTZ - to_microseconds(CAST($tolerance_s * 1e6 AS BIGINT))
      AND ts < $until::TIMESTAMPTZ + to_microseconds(CAST($tolerance_s * 1e6 AS BIGINT))
      AND pod IS NOT NULL AND pod NOT IN (SELECT pod FROM pool_pods)
    QUALIFY row_number() OVER (PARTITION BY pod, ts, message ORDER BY source_id, line_no) = 1
),
pairs_by_db AS (  -- per app pod and database pod: client errors with a server error within the tolerance
    SELECT c.pod, s.pod AS db_pod, count(*) AS pairs
    FROM client c JOIN server s ON abs(epoch(s.ts) - epoch(c.ts)) <= $tolerance_s::DOUBLE
    GROUP BY ALL
),
best_db AS (
    SELECT pod, arg_max(db_pod, pairs) AS db_pod, max(pairs) AS pairs_any FROM pairs_by_db GROUP BY pod
),
pairs AS (  -- each client error once: paired when the nearest server error of that db is within the tolerance
    SELECT c.pod, count(*) FILTER (WHERE EXISTS (
               SELECT 1 FROM server s WHERE s.pod = b.db_pod AND abs(epoch(s.ts) - epoch(c.ts)) <= $tolerance_s::DOUBLE)) AS pairs
    FROM client c JOIN best_db b USING (pod)
    GROUP BY c.pod
),
srv AS (
    SELECT b.pod, count(*) AS server_errors, min(s.ts) AS first_server_error,
           arg_min(s.source_id, s.ts) AS server_source_id, arg_min(s.line_no, s.ts) AS server_line_no,
           arg_min(s.message, s.ts) AS server_message
    FROM best_db b JOIN server s ON s.pod = b.db_pod AND s.ts >= $since::TIMESTAMPTZ AND s.ts < $until::TIMESTAMPTZ
    GROUP BY b.pod
),
limits AS (  -- max_connections: the pod's own line, else the paired database pod's
    SELECT p.pod, l.max_conn, l.reserved, l.pod AS limit_pod, l.source_id, l.line_no, l.message
    FROM pool_pods p LEFT JOIN best_db b USING (pod)
    JOIN cfg l ON l.max_conn IS NOT NULL AND (l.pod = p.pod OR l.pod = b.db_pod)
    QUALIFY row_number() OVER (PARTITION BY p.pod ORDER BY (l.pod = p.pod) DESC, l.ts DESC) = 1
),
by_pid AS (
    SELECT pod, count(DISTINCT pid) AS client_pids,
           string_agg(pid || ':' || n, ', ' ORDER BY n DESC, pid) AS client_errors_by_pid
    FROM (SELECT pod, pid, count(*) AS n FROM client WHERE pid IS NOT NULL GROUP BY ALL)
    GROUP BY pod
),
cl AS (
    SELECT pod, count(*) AS client_errors, min(ts) AS first_client_error, max(ts) AS last_client_error,
           arg_min(source_id, ts) AS client_source_id, arg_min(line_no, ts) AS client_line_no,
           arg_min(message, ts) AS client_message
    FROM client GROUP BY pod
),
ups AS MATERIALIZED (  -- the upstream addresses of the 5xx a proxy returned in the window: the only ones worth resolving
    SELECT DISTINCT ip FROM (
        SELECT regexp_extract(u, '^\[?([^\]]+?)\]?:\d+$', 1) AS ip
        FROM (SELECT attrs->>'upstream_addr' AS u FROM events
              WHERE kind = 'http_request' AND status >= 500 AND ts >= $since::TIMESTAMPTZ AND ts < $until::TIMESTAMPTZ)
        WHERE u IS NOT NULL AND EXISTS (SELECT 1 FROM pool_pods)
    ) WHERE ip IS NOT NULL AND ip <> ''
),
listen_pods AS MATERIALIZED (
    -- every pod when there is an upstream to resolve, else none. The '' that is always there matches no pod, but keeps
    -- DuckDB's join filter (the min and max pod of this list, given to the scan of `events` below) in place: with
    -- nothing to resolve it skips every row group, instead of looking for listen lines in every message
    SELECT DISTINCT pod FROM events WHERE $upstreams::BOOLEAN AND pod IS NOT NULL AND EXISTS (SELECT 1 FROM ups)
    UNION ALL SELECT ''
),
addr AS (
    SELECT attrs->>'pod_ip' AS ip, pod FROM events WHERE kind = 'pod_spec' AND attrs->>'pod_ip' IS NOT NULL
    UNION
    SELECT ip, pod FROM (
        SELECT regexp_extract(message, '(?i)\blisten(?:ing)?(?:\s+on)?[\s=:]+(?:https?://)?(\d{1,3}(?:\.\d{1,3}){3})', 1) AS ip, pod
        FROM events WHERE $upstreams::BOOLEAN AND pod IN (SELECT pod FROM listen_pods) AND kind <> 'http_request'
          AND message ILIKE '%listen%'  -- ($upstreams false: no scan at all, also over Parquet where the join filter is not used)
    ) WHERE ip IN (SELECT ip FROM ups)
),
addr1 AS (
    SELECT ip, any_value(pod) AS pod FROM addr WHERE ip IS NOT NULL AND ip <> '' GROUP BY ip HAVING count(DISTINCT pod) = 1
),
proxied AS (
    SELECT a.pod, e.ts FROM events e
    JOIN addr1 a ON a.ip = regexp_extract(e.attrs->>'upstream_addr', '^\[?([^\]]+?)\]?:\d+$', 1)
    WHERE e.kind = 'http_request' AND e.status >= 500 AND e.ts >= $since::TIMESTAMPTZ AND e.ts < $until::TIMESTAMPTZ
      AND a.pod IN (SELECT pod FROM pool_pods)
    QUALIFY row_number() OVER (PARTITION BY e.pod, e.ts, e.message ORDER BY e.source_id, e.line_no) = 1
),
p5 AS (
    SELECT x.pod, count(*) AS http_5xx,
           count(*) FILTER (WHERE EXISTS (SELECT 1 FROM client c WHERE c.pod = x.pod
                                          AND abs(epoch(c.ts) - epoch(x.ts)) <= $tolerance_s::DOUBLE)) AS http_5xx_paired,
           min(x.ts) AS first_5xx
    FROM proxied x GROUP BY x.pod
)
SELECT p.pod, p.service,
       coalesce(p.cfg_workers, st.n) AS workers,
       CASE WHEN p.cfg_workers IS NOT NULL THEN 'config line' WHEN st.n IS NOT NULL THEN 'worker starts' END AS workers_basis,
       p.pool_max, coalesce(p.cfg_workers, st.n) * p.pool_max AS connections_wanted,
       l.max_conn AS max_connections, l.reserved AS reserved_connections, l.limit_pod,
       coalesce(cl.client_errors, 0) AS client_errors, coalesce(bp.client_pids, 0) AS client_pids, bp.client_errors_by_pid,
       cl.first_client_error, cl.last_client_error,
       b.db_pod, coalesce(s.server_errors, 0) AS server_errors, s.first_server_error,
       coalesce(pr.pairs, 0) AS pairs, coalesce(p5.http_5xx, 0) AS http_5xx, coalesce(p5.http_5xx_paired, 0) AS http_5xx_paired,
       p5.first_5xx,
       p.source_id AS config_source_id, p.line_no AS config_line_no, p.message AS config_message,
       l.source_id AS limit_source_id, l.line_no AS limit_line_no, l.message AS limit_message,
       s.server_source_id, s.server_line_no, s.server_message,
       cl.client_source_id, cl.client_line_no, cl.client_message
FROM pool_pods p
LEFT JOIN started st USING (pod)
LEFT JOIN best_db b USING (pod)
LEFT JOIN pairs pr USING (pod)
LEFT JOIN srv s USING (pod)
LEFT JOIN limits l USING (pod)
LEFT JOIN by_pid bp USING (pod)
LEFT JOIN cl USING (pod)
LEFT JOIN p5 USING (pod)
ORDER BY client_errors DESC, p.pod;
