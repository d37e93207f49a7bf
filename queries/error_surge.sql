-- error_surge.sql: a change point in an entity's rate of errors and 5xx responses (an incident no rule knows).
--
-- Measures, per entity (pod; the service or the source when a line names no pod), the series of
-- "bad" events: error- and fatal-level lines (and classified errors) the entity logged itself, and
-- 5xx responses. A 5xx a proxy logged counts for the upstream pod when its `upstream_addr` maps to
-- one (pod IP from the pod objects, or the address the pod said it listens on), else for the proxy.
-- The onset is the first bad event inside the window after which at least $min_events bad events
-- follow within $after_s seconds, at a rate at least $min_factor times the entity's own earlier
-- rate ((bad events before + 1) / seconds the entity was seen before the onset, which must be at
-- least $min_before_s). Sibling pods (same service) are measured over the same $after_s seconds.
-- (rules/error_surge.py then keeps a change point only when it cost 10+ 5xx responses, or when the
-- pod's siblings stayed quiet in that minute.)
-- Parameters: $since, $until (TIMESTAMPTZ window: the onset lies inside), $after_s (DOUBLE),
--   $min_events (INTEGER), $min_factor (DOUBLE), $min_before_s (DOUBLE), $upstreams (BOOLEAN: whether any
--   response names an upstream address, queries/upstreams.sql; false skips the look for them and for listen lines).
-- Columns: entity, pod, service, onset (TIMESTAMPTZ), last_bad (TIMESTAMPTZ, last bad event of the
--   entity inside the window), seen_since (TIMESTAMPTZ, the entity's first line), before_s,
--   bad_before, rate_before_per_min, bad_after (in $after_s), rate_after_per_min, factor,
--   error_lines, http_5xx (onset .. window end), http_5xx_before, requests_after (responses from the
--   entity from the onset to the window end), share_failed_after, siblings, sibling_bad_after, sibling_requests_after,
--   top_message (first line of the most frequent error line, digits masked), top_message_count,
--   top_message_before (the same masked line before the onset), example_source_id, example_line_no,
--   example_message (the first bad line at the onset).
-- Duplicates (the same line seen through two exports) count once. Run with SET TimeZone = 'UTC'.
-- Cost: the archive is read for the bad events only (a filter on level, kind and status) and for the
-- window; an entity's first line or request (its history) is looked up only for the entities with a
-- candidate onset, and the listen-address lines only when some response names an upstream (see listen_pods).
WITH ups AS MATERIALIZED (  -- the upstream addresses responses name: the only addresses worth resolving to a pod
    SELECT DISTINCT ip FROM (
        SELECT regexp_extract(u, '^\[?([^\]]+?)\]?:\d+$', 1) AS ip
        FROM (SELECT attrs->>'upstream_addr' AS u FROM events WHERE $upstreams::BOOLEAN AND kind = 'http_request') WHERE u IS NOT NULL
        UNION ALL
        SELECT regexp_extract(upstream, '^\[?([^\]]+?)\]?:\d+$', 1) FROM requests WHERE $upstreams::BOOLEAN AND upstream IS NOT NULL
    ) WHERE ip IS NOT NULL AND ip <> ''
),
listen_pods AS MATERIALIZED (
    -- every pod when some response names an upstream, else none. The '' that is always there matches no pod, but keeps
    -- DuckDB's join filter (the min and max pod of this list, given to the scan of `events` below) in place: with no
    -- upstream it skips every row group, instead of looking for listen lines in every message
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
addr1 AS MATERIALIZED (
    SELECT ip, any_value(pod) AS pod FROM addr WHERE ip IS NOT NULL AND ip <> '' GROUP BY ip HAVING count(DISTINCT pod) = 1
),
ent_pods AS MATERIALIZED (  -- the service of a pod an upstream address resolves to
    SELECT pod, any_value(service) AS service FROM events
    WHERE pod IN (SELECT pod FROM addr1) AND kind <> 'http_request' GROUP BY pod
),
tagged AS NOT MATERIALIZED (  -- every line or response with its entity; each reader filters first
    SELECT e.source_id, e.ts, e.line_no, e.level, e.kind, e.message, e.error_class, e.status,
           e.pod AS e_pod, e.service AS e_service, 'line' AS sig
    FROM events e
    WHERE e.ts IS NOT NULL AND e.kind NOT IN ('pod_spec', 'span', 'http_request')
    UNION ALL
    SELECT e.source_id, e.ts, e.line_no, e.level, e.kind, e.message, e.error_class, e.status,
           coalesce(a.pod, e.pod), coalesce(p.service, e.service), 'http'
    FROM events e
    LEFT JOIN addr1 a ON a.ip = regexp_extract(e.attrs->>'upstream_addr', '^\[?([^\]]+?)\]?:\d+$', 1)
    LEFT JOIN ent_pods p ON p.pod = a.pod
    WHERE e.ts IS NOT NULL AND e.kind = 'http_request'
),
ent AS NOT MATERIALIZED (  -- (not yet deduplicated)
    SELECT coalesce(e_pod, e_service, 'source ' || source_id) AS entity, e_pod AS pod, e_service AS service,
           ts, message, sig, kind, status, level, error_class, source_id, line_no
    FROM tagged
),
bad_ev AS NOT MATERIALIZED (  -- the bad lines and responses: error- and fatal-level lines, classified errors (not at warn
    -- level), 5xx (filters a scan applies before it reads a message: an IN list would not be one)
    SELECT coalesce(pod, service, 'source ' || source_id) AS entity, pod, service, ts, message, 'line' AS sig, source_id, line_no
    FROM events
    WHERE ts IS NOT NULL AND level = 'error' AND kind NOT IN ('pod_spec', 'span', 'http_request', 'worker_exit')
    UNION ALL
    SELECT coalesce(pod, service, 'source ' || source_id), pod, service, ts, message, 'line', source_id, line_no
    FROM events
    WHERE ts IS NOT NULL AND level = 'fatal' AND kind NOT IN ('pod_spec', 'span', 'http_request', 'worker_exit')
    UNION ALL
    SELECT coalesce(pod, service, 'source ' || source_id), pod, service, ts, message, 'line', source_id, line_no
    FROM events
    WHERE ts IS NOT NULL AND kind = 'error' AND error_class IS NOT NULL AND level NOT IN ('error', 'fatal', 'warn')
    UNION ALL
    SELECT entity, pod, service, ts, message, sig, source_id, line_no FROM ent WHERE sig = 'http' AND status >= 500
),
keys_before AS MATERIALIZED (  -- per entity, its bad events before the window, counted without reading a message: the
    -- distinct (kind, time) pairs, no more than the bad events deduplicated by message (those are counted below, for the
    -- candidates only)
    SELECT entity, count(*) AS n FROM (SELECT DISTINCT entity, sig, ts FROM bad_ev WHERE ts < $since::TIMESTAMPTZ) GROUP BY entity
),
bad AS MATERIALIZED (  -- the bad events of the window (and $after_s after it)
    -- a line or response counts once however many exports hold it (the first copy by source and line
    -- stands for it): deduplicated among the bad ones only, so the archive's every line is never sorted
    SELECT *, CASE WHEN sig = 'http' THEN 1 ELSE 0 END AS is_http FROM bad_ev
    WHERE ts >= $since::TIMESTAMPTZ AND ts < $until::TIMESTAMPTZ + to_microseconds(CAST($after_s * 1e6 AS BIGINT))
    QUALIFY row_number() OVER (PARTITION BY entity, sig, ts, message ORDER BY source_id, line_no) = 1
),
counted AS (
    SELECT b.*,
           count(*) OVER (PARTITION BY b.entity ORDER BY b.ts
                          RANGE BETWEEN CURRENT ROW AND to_microseconds(CAST($after_s * 1e6 AS BIGINT)) FOLLOWING) AS bad_after,
           count(*) OVER (PARTITION BY b.entity ORDER BY b.ts
                          RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run_incl  -- from the window's start
    FROM bad b
),
cand AS MATERIALIZED (  -- onsets but for the entity's earlier rate, which needs its history and its first line
    SELECT c.*, coalesce(k.n, 0) + c.run_incl - 1 AS bad_before_lb
    FROM counted c LEFT JOIN keys_before k USING (entity)
    WHERE c.ts < $until::TIMESTAMPTZ AND c.bad_after >= $min_events::INTEGER
),
data_start AS MATERIALIZED (  -- no entity was seen before the data's first line or request
    SELECT least((SELECT min(ts) FROM events), (SELECT min(first_ts) FROM requests)) AS t
),
cand2 AS MATERIALIZED (  -- the candidates that pass the earlier-rate tests with the most history an entity can have:
    -- an entity's own first line is no earlier, and its bad events before the window no fewer, so the onsets are among
    -- these (their history is looked up for these only)
    SELECT c.* FROM cand c, data_start d
    WHERE epoch(c.ts) - epoch(d.t) >= $min_before_s::DOUBLE
      AND c.bad_after / $after_s::DOUBLE >= $min_factor::DOUBLE * (c.bad_before_lb + 1) / (epoch(c.ts) - epoch(d.t))
),
rq AS NOT MATERIALIZED (  -- every request, from the requests rollup (only failed and slow ones stay events), attributed as above
    SELECT coalesce(coalesce(a.pod, r.pod), coalesce(p.service, r.service), 'source ' || r.source_id) AS entity,
           coalesce(a.pod, r.pod) AS pod, coalesce(p.service, r.service) AS service, r.first_ts, r.last_ts, r.requests
    FROM requests r
    LEFT JOIN addr1 a ON a.ip = regexp_extract(r.upstream, '^\[?([^\]]+?)\]?:\d+$', 1)
    LEFT JOIN ent_pods p ON p.pod = a.pod
    WHERE r.first_ts IS NOT NULL
),
rq_win AS MATERIALIZED (  -- the rollup rows that reach into the window (onset .. window end + $after_s)
    SELECT * FROM rq
    WHERE last_ts >= $since::TIMESTAMPTZ AND first_ts < $until::TIMESTAMPTZ + to_microseconds(CAST($after_s * 1e6 AS BIGINT))
      AND EXISTS (SELECT 1 FROM cand2)
),
obs AS MATERIALIZED (  -- every line or response seen for an entity in the window (and $after_s after it), deduplicated across exports
    SELECT * FROM ent
    WHERE ts >= $since::TIMESTAMPTZ AND ts < $until::TIMESTAMPTZ + to_microseconds(CAST($after_s * 1e6 AS BIGINT))
      AND EXISTS (SELECT 1 FROM cand2)
    QUALIFY row_number() OVER (PARTITION BY entity, sig, ts, message ORDER BY source_id, line_no) = 1
),
cand_ent AS MATERIALIZED (  -- (with '', as listen_pods: with no candidate the scans below skip every row group)
    SELECT DISTINCT entity FROM cand2 UNION ALL SELECT ''
),
pods_if_cand AS MATERIALIZED (  -- the pods whose responses may count for a candidate: its own, and every pod when an
    -- upstream address resolves to a pod (a proxy's response then counts for that pod); with '', as listen_pods
    SELECT DISTINCT pod FROM events WHERE pod IS NOT NULL AND EXISTS (SELECT 1 FROM cand2) AND EXISTS (SELECT 1 FROM addr1)
    UNION ALL SELECT entity FROM cand_ent
),
first_seen AS (  -- the first line or request of each candidate entity, attributed as above
    SELECT pod AS entity, min(ts) AS ts FROM events
    WHERE ts IS NOT NULL AND kind NOT IN ('pod_spec', 'span', 'http_request') AND pod IN (SELECT entity FROM cand_ent) GROUP BY pod
    UNION ALL
    SELECT coalesce(service, 'source ' || source_id), min(ts) FROM events
    WHERE ts IS NOT NULL AND kind NOT IN ('pod_spec', 'span', 'http_request') AND pod IS NULL AND EXISTS (SELECT 1 FROM cand2)
    GROUP BY source_id, service
    UNION ALL
    SELECT coalesce(coalesce(a.pod, e.pod), coalesce(p.service, e.service), 'source ' || e.source_id), min(e.ts)
    FROM (SELECT * FROM events WHERE ts IS NOT NULL AND kind = 'http_request' AND pod IN (SELECT pod FROM pods_if_cand)
          UNION ALL
          SELECT * FROM events WHERE ts IS NOT NULL AND kind = 'http_request' AND pod IS NULL AND EXISTS (SELECT 1 FROM cand2)) e
    LEFT JOIN addr1 a ON a.ip = regexp_extract(e.attrs->>'upstream_addr', '^\[?([^\]]+?)\]?:\d+$', 1)
    LEFT JOIN ent_pods p ON p.pod = a.pod
    GROUP BY 1
    UNION ALL
    SELECT pod, min(first_ts) FROM requests
    WHERE first_ts IS NOT NULL AND upstream IS NULL AND pod IN (SELECT entity FROM cand_ent) GROUP BY pod
    UNION ALL
    SELECT coalesce(service, 'source ' || source_id), min(first_ts) FROM requests
    WHERE first_ts IS NOT NULL AND upstream IS NULL AND pod IS NULL GROUP BY source_id, service
    UNION ALL
    SELECT coalesce(coalesce(a.pod, r.pod), coalesce(p.service, r.service), 'source ' || r.source_id), r.first_ts
    FROM (SELECT source_id, pod, service, upstream, min(first_ts) AS first_ts FROM requests
          WHERE first_ts IS NOT NULL AND upstream IS NOT NULL AND pod IN (SELECT pod FROM pods_if_cand) GROUP BY ALL
          UNION ALL
          SELECT source_id, pod, service, upstream, min(first_ts) FROM requests
          WHERE first_ts IS NOT NULL AND upstream IS NOT NULL AND pod IS NULL AND EXISTS (SELECT 1 FROM cand2) GROUP BY ALL) r
    LEFT JOIN addr1 a ON a.ip = regexp_extract(r.upstream, '^\[?([^\]]+?)\]?:\d+$', 1)
    LEFT JOIN ent_pods p ON p.pod = a.pod
),
bad_cand AS NOT MATERIALIZED (  -- bad_ev of the candidate entities only: the scans skip the other pods' row groups
    SELECT coalesce(pod, service, 'source ' || source_id) AS entity, ts, message, 'line' AS sig
    FROM (SELECT * FROM events WHERE pod IN (SELECT entity FROM cand_ent)
          UNION ALL
          SELECT * FROM events WHERE pod IS NULL AND EXISTS (SELECT 1 FROM cand2))
    WHERE ts IS NOT NULL AND kind NOT IN ('pod_spec', 'span', 'http_request', 'worker_exit')
      AND (level IN ('error', 'fatal') OR (kind = 'error' AND error_class IS NOT NULL AND level <> 'warn'))
    UNION ALL
    SELECT coalesce(coalesce(a.pod, e.pod), coalesce(p.service, e.service), 'source ' || e.source_id), e.ts, e.message, 'http'
    FROM (SELECT * FROM events WHERE ts IS NOT NULL AND kind = 'http_request' AND status >= 500 AND pod IN (SELECT pod FROM pods_if_cand)
          UNION ALL
          SELECT * FROM events WHERE ts IS NOT NULL AND kind = 'http_request' AND status >= 500 AND pod IS NULL
            AND EXISTS (SELECT 1 FROM cand2)) e
    LEFT JOIN addr1 a ON a.ip = regexp_extract(e.attrs->>'upstream_addr', '^\[?([^\]]+?)\]?:\d+$', 1)
    LEFT JOIN ent_pods p ON p.pod = a.pod
),
hist AS MATERIALIZED (  -- the candidates' bad events before the window, deduplicated as `bad`
    SELECT DISTINCT entity, sig, ts, message, CASE WHEN sig = 'http' THEN 1 ELSE 0 END AS is_http FROM bad_cand
    WHERE ts < $since::TIMESTAMPTZ AND entity IN (SELECT entity FROM cand2)
),
hist_n AS (SELECT entity, count(*) AS n, count(*) FILTER (WHERE is_http = 1) AS n_http FROM hist GROUP BY entity),
seen AS MATERIALIZED (  -- a duplicate has the same time: no deduplication needed
    SELECT entity, min(ts) AS seen_since FROM first_seen WHERE entity IN (SELECT entity FROM cand2) GROUP BY entity
),
scored AS (
    SELECT c.*, coalesce(h.n, 0) + c.run_incl - 1 AS bad_before_incl_ties, coalesce(h.n_http, 0) AS http_5xx_hist,
           s.seen_since, epoch(c.ts) - epoch(s.seen_since) AS before_s
    FROM cand2 c JOIN seen s USING (entity) LEFT JOIN hist_n h USING (entity)
),
onsets AS (
    SELECT * FROM scored
    WHERE before_s >= $min_before_s::DOUBLE
      AND bad_after / $after_s::DOUBLE >= $min_factor::DOUBLE * (bad_before_incl_ties + 1) / before_s
    QUALIFY row_number() OVER (PARTITION BY entity ORDER BY ts, source_id, line_no) = 1
),
span AS (
    SELECT o.entity, max(b.ts) AS last_bad,
           count(*) FILTER (WHERE b.is_http = 0) AS error_lines,
           count(*) FILTER (WHERE b.is_http = 1) AS http_5xx
    FROM onsets o JOIN bad b ON b.entity = o.entity AND b.ts >= o.ts AND b.ts < $until::TIMESTAMPTZ
    GROUP BY o.entity
),
before5 AS (
    SELECT o.entity, any_value(o.http_5xx_hist) + count(b.ts) AS http_5xx_before
    FROM onsets o LEFT JOIN bad b ON b.entity = o.entity AND b.ts < o.ts AND b.is_http = 1
    GROUP BY o.entity
),
req AS (  -- a rollup second that straddles the onset counts when a request of it came at or after the onset
    SELECT o.entity, coalesce(sum(q.requests), 0) AS requests_after
    FROM onsets o JOIN span s USING (entity)
    LEFT JOIN rq_win q ON q.entity = o.entity AND q.last_ts >= o.ts AND q.first_ts < $until::TIMESTAMPTZ
    GROUP BY o.entity
),
sib_obs AS (
    SELECT o.entity, x.entity AS sibling,
           count(*) FILTER (WHERE x.status >= 500 OR (x.sig = 'line' AND x.level IN ('error', 'fatal'))) AS bad, 0 AS requests
    FROM onsets o
    JOIN obs x ON x.service = o.service AND x.entity <> o.entity AND x.pod IS NOT NULL
         AND x.ts >= o.ts AND x.ts < o.ts + to_microseconds(CAST($after_s * 1e6 AS BIGINT))
    GROUP BY ALL
    UNION ALL
    SELECT o.entity, x.entity, 0, sum(x.requests)
    FROM onsets o
    JOIN rq_win x ON x.service = o.service AND x.entity <> o.entity AND x.pod IS NOT NULL
         AND x.last_ts >= o.ts AND x.first_ts < o.ts + to_microseconds(CAST($after_s * 1e6 AS BIGINT))
    GROUP BY ALL
),
sib AS (
    SELECT o.entity, count(DISTINCT x.sibling) AS siblings, coalesce(sum(x.bad), 0) AS sibling_bad_after,
           coalesce(sum(x.requests), 0) AS sibling_requests_after
    FROM onsets o LEFT JOIN sib_obs x USING (entity)
    GROUP BY o.entity
),
msgs AS (
    SELECT o.entity,
           regexp_replace(split_part(b.message, chr(10), 1), '\d+', '<n>', 'g') AS m,
           count(*) FILTER (WHERE b.ts >= o.ts) AS n_after,
           count(*) FILTER (WHERE b.ts < o.ts) AS n_before
    FROM onsets o
    JOIN (SELECT entity, ts, message, is_http FROM bad UNION ALL SELECT entity, ts, message, is_http FROM hist) b
      ON b.entity = o.entity AND b.is_http = 0 AND b.ts < $until::TIMESTAMPTZ
    GROUP BY ALL
),
top_msg AS (
    SELECT entity, arg_max(m, n_after) AS top_message, max(n_after) AS top_message_count,
           arg_max(n_before, n_after) AS top_message_before
    FROM msgs GROUP BY entity
)
SELECT o.entity, o.pod, o.service, o.ts AS onset, s.last_bad, o.seen_since,
       round(o.before_s, 1) AS before_s, o.bad_before_incl_ties AS bad_before,
       round(60.0 * o.bad_before_incl_ties / o.before_s, 3) AS rate_before_per_min,
       o.bad_after, round(60.0 * o.bad_after / $after_s::DOUBLE, 3) AS rate_after_per_min,
       round((o.bad_after / $after_s::DOUBLE) / ((o.bad_before_incl_ties + 1) / o.before_s), 1) AS factor,
       s.error_lines, s.http_5xx, b5.http_5xx_before, r.requests_after,
       CASE WHEN r.requests_after > 0 THEN round(s.http_5xx / r.requests_after, 3) END AS share_failed_after,
       sb.siblings, sb.sibling_bad_after, sb.sibling_requests_after,
       t.top_message, t.top_message_count, t.top_message_before,
       o.source_id AS example_source_id, o.line_no AS example_line_no, o.message AS example_message
FROM onsets o
JOIN span s USING (entity)
JOIN before5 b5 USING (entity)
JOIN req r USING (entity)
JOIN sib sb USING (entity)
LEFT JOIN top_msg t USING (entity)
ORDER BY o.bad_after DESC, o.ts, o.entity;
