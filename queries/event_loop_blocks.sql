-- event_loop_blocks.sql: event-loop blocks, the request that blocked the loop, the timeouts behind them.
--
-- Measures, per pod, event-loop-lag lines of at least $min_lag_ms: each is a block that ended at
-- the line's time and lasted its lag, so it started at the line's time minus the lag. A request of the same pod that completed within 0.5 s of
-- the block's end and took at least 80 % of the lag is the request that held the loop. Timeouts
-- (the pod's own upstream_timeout/read_timeout errors, and upstream_timeout errors of proxies, whose
-- logs rarely name the pod) from the block's start to 2 s after its end are the block's victims; `health_timeouts` counts those on health routes,
-- which touch no database or other dependency.
-- Parameters: $since, $until (TIMESTAMPTZ), $min_lag_ms (DOUBLE).
-- Columns: pod, service, blocks, max_lag_ms, blocked_s (sum of lags, seconds), first_block_start
--   (TIMESTAMPTZ, the onset: first block's line time minus its lag), first_block_end,
--   last_block_end (TIMESTAMPTZ), top_route (route of the blocking request seen most), blocks_with_route,
--   route_median_ms, timeouts (victims), timeout_routes (distinct routes of the victims as templates:
--   /api/users/:id), timeout_route_examples (up to 3 raw routes behind a template, or NULL),
--   health_timeouts, timeouts_total (all timeouts in the window), lag_source_id, lag_line_no,
--   lag_message, req_source_id, req_line_no, req_message (a quoted example of each),
--   dependency_calls (calls the pod logged to other services in the window: dependency_call
--   events and client spans; 0 = no dependency was involved).
-- Timeouts are events: two identical proxy lines in the same second are two timeouts (counted by
-- source and line, never merged by a DISTINCT over second-resolution times).
-- Run with SET TimeZone = 'UTC'.
WITH ev AS (
    SELECT * FROM (
        SELECT *, row_number() OVER (PARTITION BY source_id, kind, pod, ts, message ORDER BY line_no) AS occ
        FROM events
        WHERE ts >= $since::TIMESTAMPTZ AND ts < $until::TIMESTAMPTZ
    )
    -- the same line seen through two exports counts once; repeated lines of one source (occ) stay apart
    QUALIFY row_number() OVER (PARTITION BY kind, pod, ts, message, occ ORDER BY source_id, line_no) = 1
),
blocks AS (
    SELECT pod, any_value(service) OVER (PARTITION BY pod) AS service, ts AS block_end,
           ts - to_microseconds((duration_ms * 1000)::BIGINT) AS block_start, duration_ms AS lag_ms,
           source_id, line_no, message
    FROM ev WHERE kind = 'event_loop_lag' AND duration_ms >= $min_lag_ms::DOUBLE AND pod IS NOT NULL
),
holders AS (
    SELECT b.pod, b.block_end, r.route, r.duration_ms, r.source_id, r.line_no, r.message
    FROM blocks b JOIN ev r
      ON r.kind = 'http_request' AND r.pod = b.pod
     AND r.ts BETWEEN b.block_end - INTERVAL 500 MILLISECOND AND b.block_end + INTERVAL 500 MILLISECOND
     AND r.duration_ms >= 0.8 * b.lag_ms
),
top_route AS (
    SELECT pod, route, count(DISTINCT block_end) AS blocks_with_route, median(duration_ms) AS route_median_ms,
           arg_min(source_id, block_end) AS req_source_id, arg_min(line_no, block_end) AS req_line_no,
           arg_min(message, block_end) AS req_message
    FROM holders GROUP BY pod, route
    QUALIFY row_number() OVER (PARTITION BY pod ORDER BY count(DISTINCT block_end) DESC, route) = 1
),
timeouts AS (
    SELECT ts, route, error_class, pod, source_id, line_no FROM ev WHERE kind = 'error' AND error_class IN ('upstream_timeout', 'read_timeout')
),
victims AS (
    -- the pod's own timeouts, and proxies' upstream timeouts (a proxy log rarely names the pod);
    -- one row per timeout event even when two blocks' windows overlap it
    SELECT DISTINCT ON (b.pod, t.source_id, t.line_no) b.pod, t.ts, t.route,
           -- the route as a template: ids (numbers, UUIDs, long hex) become :id
           regexp_replace(regexp_replace(coalesce(t.route, ''), '/(?:[0-9]+|[0-9a-fA-F]{8}-[0-9a-fA-F-]{27,}|[0-9a-f]{16,})(/|$)', '/:id\1', 'g'), '/(?:[0-9]+|[0-9a-fA-F]{8}-[0-9a-fA-F-]{27,}|[0-9a-f]{16,})(/|$)', '/:id\1', 'g') AS route_t
    FROM blocks b JOIN timeouts t
      ON t.ts BETWEEN b.block_start AND b.block_end + INTERVAL 2 SECOND
     AND (t.pod = b.pod OR t.error_class = 'upstream_timeout')
)
SELECT b.pod, any_value(b.service) AS service, count(*) AS blocks, max(b.lag_ms) AS max_lag_ms,
       round(sum(b.lag_ms) / 1000.0, 3) AS blocked_s, min(b.block_start) AS first_block_start,
       min(b.block_end) AS first_block_end, max(b.block_end) AS last_block_end,
       any_value(tr.route) AS top_route, coalesce(any_value(tr.blocks_with_route), 0) AS blocks_with_route,
       any_value(tr.route_median_ms) AS route_median_ms,
       (SELECT count(*) FROM victims v WHERE v.pod = b.pod) AS timeouts,
       (SELECT string_agg(DISTINCT v.route_t, ', ' ORDER BY v.route_t) FROM victims v WHERE v.pod = b.pod) AS timeout_routes,
       (SELECT string_agg(x.route, ', ' ORDER BY x.route) FROM (
            SELECT DISTINCT v.route FROM victims v WHERE v.pod = b.pod AND v.route <> v.route_t ORDER BY v.route LIMIT 3) x
       ) AS timeout_route_examples,
       (SELECT count(*) FROM victims v WHERE v.pod = b.pod AND v.route ILIKE '%health%') AS health_timeouts,
       (SELECT count(*) FROM timeouts) AS timeouts_total,
       arg_min(b.source_id, b.block_end) AS lag_source_id, arg_min(b.line_no, b.block_end) AS lag_line_no,
       arg_min(b.message, b.block_end) AS lag_message,
       any_value(tr.req_source_id) AS req_source_id, any_value(tr.req_line_no) AS req_line_no,
       any_value(tr.req_message) AS req_message,
       (SELECT count(*) FROM ev d WHERE d.pod = b.pod
          AND (d.kind = 'dependency_call' OR (d.kind = 'span' AND coalesce(d.attrs->>'span_kind', 'client') = 'client'
                                              AND d.peer IS NOT NULL))) AS dependency_calls
FROM blocks b LEFT JOIN top_route tr USING (pod)
GROUP BY b.pod
ORDER BY max_lag_ms DESC, pod;  -- (pod: equal lags in the same order from any storage)
