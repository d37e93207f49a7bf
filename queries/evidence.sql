-- evidence.sql: the log lines behind a number, to quote in the report (file:line).
--
-- Parameters: $since, $until (TIMESTAMPTZ), $kind (VARCHAR event kind), $pod (VARCHAR or NULL),
--   $error_class (VARCHAR or NULL), $limit (INTEGER lines).
-- Columns: ts, source_id, path (the file), line_no (1-based line in the file), pod, message.
-- The same line through two exports is quoted once (from the pod's own file when there is one).
SELECT e.ts, e.source_id, s.path, e.line_no, e.pod, e.message
FROM events e JOIN sources s USING (source_id)
WHERE e.ts >= $since::TIMESTAMPTZ AND e.ts < $until::TIMESTAMPTZ
  AND e.kind = $kind::VARCHAR
  AND ($pod::VARCHAR IS NULL OR e.pod = $pod::VARCHAR)
  AND ($error_class::VARCHAR IS NULL OR e.error_class = $error_class::VARCHAR)
  -- quote the line that heads an event, never a fragment of a stack or error object (`  code: 'E...',`)
  AND NOT regexp_matches(coalesce(e.message, ''), '^(?:\s|\}|\]|\)|Caused by: |\.\.\. \d+ more)')
QUALIFY row_number() OVER (PARTITION BY e.pod, e.ts, e.message, e.span_id ORDER BY s.pod IS NULL, e.source_id, e.line_no) = 1
ORDER BY e.ts, e.source_id, e.line_no
LIMIT $limit::INTEGER;
