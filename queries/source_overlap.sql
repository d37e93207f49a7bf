-- source_overlap.sql: how many of each source's lines another source also holds (two exports of
-- the same pod: `kubectl logs` and /var/log/pods, or Loki).
--
-- Measures, from line_index (line counts per source, pod, container, level and minute): for each
-- source, over the cells (pod, container, level, minute) that another source also has lines in, the
-- smaller of its own count and the largest other source's count. Exact when two exports hold the
-- same minute whole (the usual case); an upper bound for the minutes where one export starts or
-- ends. Lines without a known pod are not compared. A whole JSON document (format 'document')
-- has records, not lines: it is 0 itself, but its records count as the other side. Events
-- themselves are stored once (sources.lines_duplicate counts the lines of the events another
-- source already had).
-- Parameters: none.
-- Columns: source_id, lines_overlap (BIGINT).
WITH cells AS (
    SELECT l.source_id, s.format = 'document' AS whole_doc, l.minute, l.pod,
           coalesce(l.container, '') AS container, coalesce(l.level, '') AS level, sum(l.lines) AS n
    FROM line_index l JOIN sources s USING (source_id)
    WHERE l.pod IS NOT NULL AND l.minute IS NOT NULL
    GROUP BY ALL
),
other AS (
    SELECT a.source_id, a.minute, a.pod, a.container, a.level, any_value(a.n) AS n, max(b.n) AS other_n
    FROM cells a JOIN cells b
      ON a.minute = b.minute AND a.pod = b.pod AND a.container = b.container AND a.level = b.level
     AND a.source_id <> b.source_id
    WHERE NOT a.whole_doc
    GROUP BY a.source_id, a.minute, a.pod, a.container, a.level
)
SELECT s.source_id, coalesce(sum(least(o.n, o.other_n)), 0)::BIGINT AS lines_overlap
FROM sources s LEFT JOIN other o USING (source_id)
GROUP BY s.source_id
ORDER BY s.source_id
