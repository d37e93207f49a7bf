-- coverage.sql: which sources, services and pods have log lines in the window, and where they are silent.
--
-- Measures, from line_index (line counts per source, pod and minute), for each source and pod: the
-- first and last minute with lines in the window, how many of the window's minutes have lines, and
-- the minutes in between with none (gaps). Missing logs are not a quiet system: read gaps first.
-- Parameters: $since, $until (TIMESTAMPTZ).
-- Columns: source_id, path, service (from the index, else the file name), pod, first_minute,
--   last_minute (TIMESTAMPTZ), minutes_with_lines, window_minutes, lines, gap_minutes (minutes inside
--   first..last with no lines), gaps (text: 'HH:MM-HH:MM, ...', UTC), silent_before_min (minutes
--   before the source's first line while other sources had lines: the padding of the window before
--   any source has data is no silence), silent_after_min (likewise after its last line).
WITH li AS (
    SELECT l.source_id, s.path,
           coalesce(l.service, regexp_extract(s.path, '([^/]+?)(?:\.log)?(?:\.(?:gz|zst|json|jsonl|ndjson))?$', 1)) AS service,
           coalesce(l.pod, '') AS pod, l.minute, sum(l.lines) AS lines
    FROM line_index l JOIN sources s USING (source_id)
    WHERE l.minute >= date_trunc('minute', $since::TIMESTAMPTZ) AND l.minute < $until::TIMESTAMPTZ
    GROUP BY ALL
),
span AS (
    -- the part of the window any source has lines for
    SELECT greatest(date_trunc('minute', $since::TIMESTAMPTZ), min(minute)) AS lo,
           least(date_trunc('minute', $until::TIMESTAMPTZ - INTERVAL 1 MICROSECOND), max(minute)) AS hi
    FROM li
),
wmin AS (
    SELECT unnest(generate_series(date_trunc('minute', $since::TIMESTAMPTZ),
                                  $until::TIMESTAMPTZ - INTERVAL 1 MICROSECOND, INTERVAL 1 MINUTE)) AS minute
),
per AS (
    SELECT source_id, any_value(path) AS path, any_value(service) AS service, pod,
           min(minute) AS first_minute, max(minute) AS last_minute, count(DISTINCT minute) AS minutes_with_lines,
           sum(lines) AS lines
    FROM li GROUP BY source_id, pod
),
missing AS (
    SELECT p.source_id, p.pod, w.minute
    FROM per p JOIN wmin w ON w.minute BETWEEN p.first_minute AND p.last_minute
    WHERE NOT EXISTS (SELECT 1 FROM li WHERE li.source_id = p.source_id AND li.pod = p.pod AND li.minute = w.minute)
),
runs AS (
    SELECT source_id, pod, min(minute) AS a, max(minute) AS b FROM (
        SELECT *, minute - to_minutes(CAST(row_number() OVER (PARTITION BY source_id, pod ORDER BY minute) AS INTEGER)) AS grp
        FROM missing) GROUP BY source_id, pod, grp
)
SELECT p.source_id, p.path, p.service, nullif(p.pod, '') AS pod, p.first_minute, p.last_minute,
       p.minutes_with_lines, (SELECT count(*) FROM wmin) AS window_minutes, p.lines,
       (SELECT count(*) FROM missing m WHERE m.source_id = p.source_id AND m.pod = p.pod) AS gap_minutes,
       (SELECT string_agg(strftime(a, '%H:%M') || '-' || strftime(b + INTERVAL 1 MINUTE, '%H:%M'), ', ' ORDER BY a)
          FROM runs r WHERE r.source_id = p.source_id AND r.pod = p.pod) AS gaps,
       greatest(CAST(epoch(p.first_minute - sp.lo) / 60 AS INTEGER), 0) AS silent_before_min,
       greatest(CAST(epoch(sp.hi - p.last_minute) / 60 AS INTEGER), 0) AS silent_after_min
FROM per p CROSS JOIN span sp
ORDER BY p.service, p.pod, p.source_id;
