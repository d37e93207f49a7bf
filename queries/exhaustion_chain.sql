-- exhaustion_chain.sql: trigger -> mechanism -> symptoms behind resource exhaustion, per pod.
--
-- Measures, for each pod of $pods (those resource_exhaustion found), from its lines up to $until:
-- the file-descriptor limit it logged (a `config` line: `Max open files 256`, `RLIMIT_NOFILE: 1024`),
-- the exhaustion's first sign ($first_bad: the pod's first EMFILE, heap OOM or memory line), EMFILE
-- errors by call (`connect EMFILE`, `accept EMFILE`, `open EMFILE`, else the `syscall:` field),
-- the integer counters its memory lines carry (`queue=265`, `cache_entries=1835`: first, last, max,
-- share of steps that did not go down), the memory it reports (rss / heapUsed: first, last, growth
-- in MB/s by least squares), the request rate (its own access lines, or a proxy's for its address)
-- in the 60 s before the first sign against the rate before that, and the status mix from then on.
-- Parameters: $pods (VARCHAR, comma-separated), $until (TIMESTAMPTZ).
-- Columns: pod, section ('fd_limit' | 'emfile_call' | 'counter' | 'memory' | 'load' | 'status' | 'first_line':
--   the pod's first line), name,
--   n (count), first_value, last_value, max_value, rising_share (DOUBLE), growth_per_s (DOUBLE),
--   first_ts, last_ts (TIMESTAMPTZ), rate_before_per_s, rate_after_per_s (DOUBLE).
-- Duplicates (the same line seen through two exports) count once. Run with SET TimeZone = 'UTC'.
WITH ev AS (
    SELECT * FROM events
    WHERE pod IN (SELECT unnest(string_split($pods::VARCHAR, ','))) AND ts IS NOT NULL AND ts < $until::TIMESTAMPTZ
    QUALIFY row_number() OVER (PARTITION BY pod, kind, ts, message ORDER BY source_id, line_no) = 1
),
first_bad AS (
    SELECT pod, min(ts) FILTER (WHERE error_class IN ('emfile', 'heap_oom', 'oom_killed')) AS t_bad, min(ts) AS t0
    FROM ev GROUP BY pod
),
fd AS (
    SELECT pod, 'fd_limit' AS section, 'fd_limit' AS name, count(*) AS n,
           min(TRY_CAST(attrs->>'fd_limit' AS DOUBLE)) AS first_value, max(TRY_CAST(attrs->>'fd_limit' AS DOUBLE)) AS last_value
    FROM ev WHERE kind = 'config' AND attrs->>'fd_limit' IS NOT NULL GROUP BY pod
),
calls AS (
    SELECT pod, 'emfile_call' AS section,
           lower(coalesce(nullif(regexp_extract(message, '(?i)\b(accept|connect|open|socket|spawn|listen|pipe|read|write)\s+EMFILE', 1), ''),
                          nullif(regexp_extract(message, '(?i)syscall\W+(\w+)', 1), ''), 'other')) AS name,
           count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts
    FROM ev WHERE error_class = 'emfile' GROUP BY ALL
),
kv AS (
    SELECT pod, ts, unnest(regexp_extract_all(message, '\b([A-Za-z_]+)=\d+(?:[\s,;]|$)', 1)) AS name,
           unnest(regexp_extract_all(message, '\b[A-Za-z_]+=(\d+)(?:[\s,;]|$)', 1)) AS v
    FROM ev WHERE kind = 'memory'
),
kv_steps AS (
    SELECT pod, name, ts, CAST(v AS DOUBLE) AS v,
           CAST(v AS DOUBLE) - lag(CAST(v AS DOUBLE)) OVER (PARTITION BY pod, name ORDER BY ts) AS d
    FROM kv
),
counters AS (
    SELECT pod, 'counter' AS section, name, count(*) AS n, arg_min(v, ts) AS first_value, arg_max(v, ts) AS last_value,
           max(v) AS max_value, avg(CASE WHEN d >= 0 THEN 1.0 ELSE 0.0 END) FILTER (WHERE d IS NOT NULL) AS rising_share,
           regr_slope(v, epoch(ts)) AS growth_per_s, min(ts) AS first_ts, max(ts) AS last_ts
    FROM kv_steps GROUP BY ALL
),
mem AS (
    SELECT pod, ts, TRY_CAST(attrs->>'rss_mb' AS DOUBLE) AS rss, TRY_CAST(attrs->>'heap_mb' AS DOUBLE) AS heap
    FROM ev WHERE kind = 'memory'
),
memory AS (
    SELECT pod, 'memory' AS section, 'rss_mb' AS name, count(rss) AS n, arg_min(rss, ts) AS first_value, arg_max(rss, ts) AS last_value,
           max(rss) AS max_value, regr_slope(rss, epoch(ts)) AS growth_per_s, min(ts) AS first_ts, max(ts) AS last_ts
    FROM mem WHERE rss IS NOT NULL GROUP BY pod
    UNION ALL
    SELECT pod, 'memory', 'heap_used_mb', count(heap), arg_min(heap, ts), arg_max(heap, ts), max(heap),
           regr_slope(heap, epoch(ts)), min(ts), max(ts)
    FROM mem WHERE heap IS NOT NULL GROUP BY pod
),
addr AS (
    SELECT regexp_extract(message, '(?i)\blisten(?:ing)?(?:\s+on)?[\s=:]+(?:https?://)?(\d{1,3}(?:\.\d{1,3}){3})', 1) AS ip, pod
    FROM ev WHERE message ILIKE '%listen%'
),
reqs AS (  -- the pod's own access lines, or a proxy's lines for the pod's address: every request,
           -- from the requests rollup (per second; a row's time is its first request's)
    SELECT pod, first_ts AS ts, status, requests AS n FROM requests
    WHERE pod IN (SELECT unnest(string_split($pods::VARCHAR, ','))) AND first_ts < $until::TIMESTAMPTZ
    UNION ALL
    SELECT a.pod, r.first_ts, r.status, r.requests FROM requests r
    JOIN addr a ON a.ip <> '' AND a.ip = regexp_extract(r.upstream, '^\[?([^\]]+?)\]?:\d+$', 1)
    WHERE r.first_ts < $until::TIMESTAMPTZ
),
load AS (
    SELECT r.pod, 'load' AS section, 'requests' AS name, sum(r.n) AS n,
           coalesce(sum(r.n) FILTER (WHERE r.ts < f.t_bad - INTERVAL 60 SECOND), 0)
               / nullif(epoch(f.t_bad - INTERVAL 60 SECOND) - epoch(min(r.ts)), 0) AS rate_before_per_s,
           coalesce(sum(r.n) FILTER (WHERE r.ts >= f.t_bad - INTERVAL 60 SECOND AND r.ts < f.t_bad), 0) / 60.0 AS rate_after_per_s
    FROM reqs r JOIN first_bad f USING (pod) WHERE f.t_bad IS NOT NULL GROUP BY r.pod, f.t_bad
),
status AS (
    SELECT r.pod, 'status' AS section, CAST(r.status AS VARCHAR) AS name, sum(r.n) AS n
    FROM reqs r JOIN first_bad f USING (pod) WHERE r.ts >= f.t_bad AND r.status IS NOT NULL GROUP BY ALL
)
SELECT pod, section, name, n, first_value, last_value, NULL::DOUBLE AS max_value, NULL::DOUBLE AS rising_share,
       NULL::DOUBLE AS growth_per_s, NULL::TIMESTAMPTZ AS first_ts, NULL::TIMESTAMPTZ AS last_ts,
       NULL::DOUBLE AS rate_before_per_s, NULL::DOUBLE AS rate_after_per_s FROM fd
UNION ALL SELECT pod, section, name, n, NULL, NULL, NULL, NULL, NULL, first_ts, last_ts, NULL, NULL FROM calls
UNION ALL SELECT pod, section, name, n, first_value, last_value, max_value, rising_share, growth_per_s, first_ts, last_ts, NULL, NULL FROM counters
UNION ALL SELECT pod, section, name, n, first_value, last_value, max_value, NULL, growth_per_s, first_ts, last_ts, NULL, NULL FROM memory
UNION ALL SELECT pod, section, name, n, NULL, NULL, NULL, NULL, NULL, NULL, NULL, rate_before_per_s, rate_after_per_s FROM load
UNION ALL SELECT pod, section, name, n, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM status
UNION ALL SELECT pod, 'first_line', 'first_line', 1, NULL, NULL, NULL, NULL, NULL, t0, t0, NULL, NULL FROM first_bad
ORDER BY pod, section, n DESC, name;
