-- change_markers.sql: what changed on a pod shortly before a time: config, deploy and (re)start lines.
--
-- Measures, for each pod of $pods (and, when given, every pod of $service or that logged a start of
-- application $app, e.g. `orders-service 3.0.4 starting`), the lines that say its configuration was loaded or changed
-- (kind `config`: `config reloaded ...`, `config: KEY=value ...`, limits such as `max_connections=20`
-- or `Max open files 256`), deploy lines, and process starts with their version (`app_start`:
-- `orders-service 3.1.0 starting`, `primary_start`), from $lookback_s seconds before $before up to $before.
-- Parameters: $pods (VARCHAR, comma-separated pod names), $service, $app (VARCHAR or NULL), $before (TIMESTAMPTZ),
--   $lookback_s (DOUBLE).
-- Columns: pod, service, ts (TIMESTAMPTZ), kind, seconds_before (DOUBLE), version, app, message,
--   source_id, line_no. Newest first per pod.
-- Duplicates (the same line seen through two exports) count once. Run with SET TimeZone = 'UTC'.
SELECT pod, service, ts, kind, round(epoch($before::TIMESTAMPTZ) - epoch(ts), 3) AS seconds_before,
       attrs->>'version' AS version, attrs->>'app' AS app, message, source_id, line_no
FROM events
WHERE (pod IN (SELECT unnest(string_split($pods::VARCHAR, ','))) OR service = $service::VARCHAR
       OR pod IN (SELECT pod FROM events WHERE kind = 'app_start' AND attrs->>'app' = $app::VARCHAR))
  AND kind IN ('config', 'deploy', 'app_start', 'primary_start')
  AND ts <= $before::TIMESTAMPTZ
  AND ts >= $before::TIMESTAMPTZ - to_microseconds(CAST($lookback_s * 1e6 AS BIGINT))
QUALIFY row_number() OVER (PARTITION BY pod, kind, ts, message ORDER BY source_id, line_no) = 1
ORDER BY pod, ts DESC, line_no DESC;
