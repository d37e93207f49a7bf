-- deploy_markers.sql: the last deploy or config change logged before the first worker death.
--
-- Measures, per dying pod, the newest `deploy` event of the same service (or pod) in the
-- $lookback_s seconds before its first death, and how long before the death it came.
-- Parameters: $until (TIMESTAMPTZ), $pods (VARCHAR, comma-separated dying pods),
--   $first_deaths (VARCHAR, comma-separated ISO timestamps, same order as $pods),
--   $lookback_s (DOUBLE seconds).
-- Columns: pod, deploy_ts (TIMESTAMPTZ), seconds_before_first_death (DOUBLE), source_id, line_no,
--   message.
WITH dying AS (
    SELECT unnest(string_split($pods::VARCHAR, ',')) AS pod,
           unnest(string_split($first_deaths::VARCHAR, ','))::TIMESTAMPTZ AS first_death
),
svc AS (
    SELECT d.pod, d.first_death, any_value(e.service) AS service
    FROM dying d LEFT JOIN events e ON e.pod = d.pod GROUP BY ALL
)
SELECT s.pod, e.ts AS deploy_ts, round(epoch(s.first_death - e.ts), 3) AS seconds_before_first_death,
       e.source_id, e.line_no, e.message
FROM svc s JOIN events e
  ON e.kind = 'deploy' AND (e.pod = s.pod OR e.service = s.service)
 AND e.ts <= s.first_death AND e.ts >= s.first_death - to_microseconds(($lookback_s * 1e6)::BIGINT)
 AND e.ts < $until::TIMESTAMPTZ
QUALIFY row_number() OVER (PARTITION BY s.pod ORDER BY e.ts DESC, e.line_no DESC) = 1
ORDER BY s.pod;
