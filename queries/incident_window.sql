-- incident_window.sql: where the incident is, when no --since/--until is given.
--
-- Measures: the densest island of "bad" events, i.e. impact: worker exits (not clean ones, exit code 0),
-- classified errors and error- or fatal-level lines, error spans, 5xx responses, event-loop blocks;
-- minutes joined into one island while the gap between busy minutes is at most $gap_min minutes.
-- The island with the most bad events wins (the latest of equals); its busiest minute is its peak.
-- A busy minute is one with more bad events than the background explains, so that more healthy data
-- around an incident (with its usual trickle of errors and 5xx) does not change the window:
--   background: bad events per minute (mean, each minute capped at the 99th percentile so that an
--   earlier near miss does not count) over the minutes at least 30 min away from the busiest minute,
--   measured only when there are at least 60 such minutes between the first and last bad event;
--   else 0, and then every minute with a bad event is busy;
--   busy: more than background + 4 x sqrt(background) bad events (Poisson noise: 0 when there is none).
-- The incident's first and last bad event (within the island and a minute either side of it): where the
-- running count of bad events less a busy minute's rate (busy_above / 60 per second) is lowest before
-- the peak minute, and highest after it (a CUSUM: the count outruns that rate only in the incident).
-- With no background that is the island's first and last bad event.
-- Parameters: $service (VARCHAR or NULL: only pods/services of that name), $gap_min (INTEGER, minutes).
-- Columns: first_bad, last_bad (TIMESTAMPTZ, first and last bad event of the island),
--          bad_events (count), deaths (worker_exit count), errors (error events and lines, error spans, 5xx),
--          pods (distinct pods with bad events), peak_minute (TIMESTAMPTZ), peak_minute_events (count),
--          background_per_min (DOUBLE, bad events per minute away from the peak), busy_above (DOUBLE).
--          bad_events, deaths, errors and pods count the bad events from first_bad to last_bad.
-- Graceful stops are not deaths: worker exits with code 0, exits the log calls graceful, and
-- SIGTERM/SIGINT/SIGQUIT/SIGHUP exits within 60 s after the pod logged a shutdown are left out.
-- Duplicates (the same line seen through two exports) count once. Run with SET TimeZone = 'UTC'.
WITH stopped AS (
    -- exits with a stop signal within 60 s after their pod logged a shutdown (a join, not a subquery per row)
    SELECT DISTINCT x.pod, x.ts
    FROM events x JOIN events sd
      ON sd.kind = 'shutdown' AND sd.pod IS NOT DISTINCT FROM x.pod
     AND sd.ts BETWEEN x.ts - INTERVAL 60 SECOND AND x.ts
    WHERE x.kind = 'worker_exit' AND x.signal IN ('SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP')
),
bad AS NOT MATERIALIZED (
    -- events by source and line: no DISTINCT, which would merge distinct same-second events
    -- (ingest already stores a line seen through two exports once). One branch per kind of bad event, each
    -- with a filter the scan of `events` applies itself (an equality; an OR of them or an IN list would not be
    -- one, and every column, attrs included, would be read for every event); the branches do not overlap.
    SELECT kind, pod, ts FROM (
        SELECT e.kind, e.pod, e.service, e.ts
        FROM events e LEFT JOIN stopped g ON g.pod IS NOT DISTINCT FROM e.pod AND g.ts = e.ts
        WHERE e.ts IS NOT NULL AND e.kind = 'worker_exit'
          AND NOT coalesce(e.exit_code = 0 OR lower(e.attrs->>'exit_mode') = 'graceful'
                           OR (e.signal IN ('SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP') AND g.ts IS NOT NULL), false)
        UNION ALL
        SELECT kind, pod, service, ts FROM events WHERE ts IS NOT NULL AND kind = 'error' AND error_class IS NOT NULL
        UNION ALL
        SELECT kind, pod, service, ts FROM events
        WHERE ts IS NOT NULL AND level = 'error' AND kind NOT IN ('span', 'http_request', 'worker_exit', 'pod_spec')
          AND NOT coalesce(kind = 'error' AND error_class IS NOT NULL, false)
          AND NOT coalesce(kind = 'event_loop_lag' AND duration_ms >= 500, false)
        UNION ALL
        SELECT kind, pod, service, ts FROM events
        WHERE ts IS NOT NULL AND level = 'fatal' AND kind NOT IN ('span', 'http_request', 'worker_exit', 'pod_spec')
          AND NOT coalesce(kind = 'error' AND error_class IS NOT NULL, false)
          AND NOT coalesce(kind = 'event_loop_lag' AND duration_ms >= 500, false)
        UNION ALL
        SELECT kind, pod, service, ts FROM events WHERE ts IS NOT NULL AND kind = 'span' AND status = 2
        UNION ALL
        SELECT kind, pod, service, ts FROM events WHERE ts IS NOT NULL AND kind = 'http_request' AND status >= 500
        UNION ALL
        SELECT kind, pod, service, ts FROM events WHERE ts IS NOT NULL AND kind = 'event_loop_lag' AND duration_ms >= 500
    )
    WHERE $service::VARCHAR IS NULL OR starts_with(pod, $service::VARCHAR || '-')
          OR service IN ($service::VARCHAR, $service::VARCHAR || '-service')
),
per_min AS (
    SELECT date_trunc('minute', ts) AS m, count(*) AS n FROM bad GROUP BY 1
),
top AS (SELECT m FROM per_min ORDER BY n DESC, m DESC LIMIT 1),
calm AS (  -- every minute of the data at least 30 min from the busiest one, empty minutes included
    SELECT coalesce(p.n, 0) AS n
    FROM (SELECT unnest(generate_series(min(m), max(m), INTERVAL 1 MINUTE)) AS m FROM per_min) a
    LEFT JOIN per_min p USING (m)
    WHERE abs(epoch(a.m - (SELECT m FROM top))) >= 1800
),
bg AS (
    SELECT CASE WHEN count(*) >= 60 THEN avg(least(n, cap)) ELSE 0 END AS per_min
    FROM calm, (SELECT quantile_disc(n, 0.99) AS cap FROM calm)
),
lvl AS (
    SELECT per_min, per_min + 4 * sqrt(per_min) AS busy_above,
           per_min / 6 + 4 * sqrt(per_min / 6) AS busy10_above
    FROM bg
),
busy AS (SELECT m, n FROM per_min WHERE n > (SELECT busy_above FROM lvl)),
islands AS (
    SELECT m, n,
           sum(CASE WHEN prev_m IS NOT NULL AND m - prev_m > to_minutes($gap_min::INTEGER) THEN 1 ELSE 0 END)
               OVER (ORDER BY m) AS island
    FROM (SELECT m, n, lag(m) OVER (ORDER BY m) AS prev_m FROM busy)
),
win AS (  -- the island with the most bad events wins (the latest of equals), not the one with the busiest minute:
    -- a short earlier burst (a near miss in a month of history) must not outrank the incident
    SELECT island FROM islands GROUP BY island ORDER BY sum(n) DESC, max(m) DESC LIMIT 1
),
peak AS (
    SELECT m, n, island FROM islands WHERE island = (SELECT island FROM win) ORDER BY n DESC, m DESC LIMIT 1
),
near AS (  -- the winning island's minutes, with one minute either side (where an incident may begin or end)
    SELECT min(i.m) - INTERVAL 1 MINUTE AS m0, max(i.m) + INTERVAL 2 MINUTE AS m1
    FROM islands i JOIN peak USING (island)
),
cand AS (
    SELECT b.kind, b.pod, b.ts, row_number() OVER (ORDER BY b.ts) AS k
    FROM bad b, near WHERE b.ts >= near.m0 AND b.ts < near.m1
),
cusum AS (  -- bad events so far minus what a busy minute's rate would bring: falls outside the incident, climbs in it
    SELECT kind, pod, ts, k - (SELECT busy_above FROM lvl) / 60.0 * epoch(ts - (SELECT min(ts) FROM cand)) AS s
    FROM cand
),
edges AS (
    SELECT (SELECT ts FROM cusum, peak WHERE ts < peak.m + INTERVAL 1 MINUTE ORDER BY s, ts LIMIT 1) AS first_bad,
           (SELECT ts FROM cusum, peak WHERE ts >= peak.m ORDER BY s DESC, ts DESC LIMIT 1) AS last_bad
)
SELECT any_value(edges.first_bad) AS first_bad,
       any_value(edges.last_bad) AS last_bad,
       count(*) AS bad_events,
       count(*) FILTER (WHERE c.kind = 'worker_exit') AS deaths,
       count(*) FILTER (WHERE c.kind <> 'worker_exit') AS errors,
       count(DISTINCT c.pod) AS pods,
       any_value(peak.m) AS peak_minute,
       any_value(peak.n) AS peak_minute_events,
       any_value(lvl.per_min) AS background_per_min,
       any_value(lvl.busy_above) AS busy_above
FROM cusum c, peak, lvl, edges
WHERE c.ts BETWEEN edges.first_bad AND edges.last_bad;
