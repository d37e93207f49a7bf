-- session_loss.sql: sessions that work on one worker PID and are unknown to another (per-worker session stores).
--
-- Measures, per pod whose request lines carry the worker PID and a session id (`[worker 23389] GET
-- /account 200 user=anna sid=...`): for each 401/403 with a session id, whether the same session
-- succeeded (status < 400) on another PID of the same pod within $span_s seconds before it, and
-- whether it differs from the PID where the session first succeeded (its login). Users come from the
-- session's successful lines.
-- Parameters: $since, $until (TIMESTAMPTZ window), $span_s (DOUBLE).
-- Columns: pod, service, pids (worker PIDs with session requests), sessions, users, logins (sessions'
--   first successful requests), page_views (requests with a session id that are not a login),
--   denied (401/403 with a session id), denied_cross_pid (an earlier success on another PID within
--   $span_s), denied_not_login_pid (on another PID than the session's first success), users_affected,
--   sessions_affected, share_of_page_views_denied, first_denied (TIMESTAMPTZ), last_denied,
--   median_gap_s (denial minus the last success on another PID), example_source_id, example_line_no,
--   example_message, login_source_id, login_line_no, login_message.
-- Duplicates (the same line, fields included, seen through two exports) count once. Run with SET TimeZone = 'UTC'.
WITH req AS (
    SELECT pod, service, pid, ts, status, attrs->>'session_id' AS sid, attrs->>'user' AS usr, source_id, line_no, message
    FROM events
    WHERE kind = 'http_request' AND pid IS NOT NULL AND pod IS NOT NULL AND attrs->>'session_id' IS NOT NULL
      AND ts >= $since::TIMESTAMPTZ AND ts < $until::TIMESTAMPTZ
    QUALIFY row_number() OVER (PARTITION BY pod, pid, ts, message, CAST(attrs AS VARCHAR) ORDER BY source_id, line_no) = 1
),
ok AS (SELECT * FROM req WHERE status < 400),
login AS (
    SELECT pod, sid, arg_min(pid, ts) AS login_pid, min(ts) AS login_ts, any_value(usr) FILTER (WHERE usr IS NOT NULL) AS usr,
           arg_min(source_id, ts) AS login_source_id, arg_min(line_no, ts) AS login_line_no, arg_min(message, ts) AS login_message
    FROM ok GROUP BY pod, sid
),
denied AS (
    SELECT d.*, l.login_pid, l.usr AS login_user,
           (SELECT max(o.ts) FROM ok o WHERE o.pod = d.pod AND o.sid = d.sid AND o.pid <> d.pid AND o.ts <= d.ts
                AND o.ts >= d.ts - to_microseconds(CAST($span_s * 1e6 AS BIGINT))) AS other_ok_ts
    FROM req d LEFT JOIN login l ON l.pod = d.pod AND l.sid = d.sid
    WHERE d.status IN (401, 403)
),
per_pod AS (
    SELECT r.pod, any_value(r.service) AS service, count(DISTINCT r.pid) AS pids, count(DISTINCT r.sid) AS sessions,
           count(DISTINCT r.usr) AS users, count(*) AS requests
    FROM req r GROUP BY r.pod
),
logins AS (SELECT pod, count(*) AS logins FROM login GROUP BY pod),
agg AS (
    SELECT pod, count(*) AS denied,
           count(*) FILTER (WHERE other_ok_ts IS NOT NULL) AS denied_cross_pid,
           count(*) FILTER (WHERE login_pid IS NOT NULL AND login_pid <> pid) AS denied_not_login_pid,
           count(DISTINCT login_user) FILTER (WHERE other_ok_ts IS NOT NULL) AS users_affected,
           count(DISTINCT sid) FILTER (WHERE other_ok_ts IS NOT NULL) AS sessions_affected,
           min(ts) FILTER (WHERE other_ok_ts IS NOT NULL) AS first_denied,
           max(ts) FILTER (WHERE other_ok_ts IS NOT NULL) AS last_denied,
           median(epoch(ts) - epoch(other_ok_ts)) AS median_gap_s,
           arg_min(source_id, ts) FILTER (WHERE other_ok_ts IS NOT NULL) AS example_source_id,
           arg_min(line_no, ts) FILTER (WHERE other_ok_ts IS NOT NULL) AS example_line_no,
           arg_min(message, ts) FILTER (WHERE other_ok_ts IS NOT NULL) AS example_message,
           arg_min(sid, ts) FILTER (WHERE other_ok_ts IS NOT NULL) AS example_sid
    FROM denied GROUP BY pod
)
SELECT p.pod, p.service, p.pids, p.sessions, p.users, coalesce(lg.logins, 0) AS logins,
       p.requests - coalesce(lg.logins, 0) AS page_views,
       coalesce(a.denied, 0) AS denied, coalesce(a.denied_cross_pid, 0) AS denied_cross_pid,
       coalesce(a.denied_not_login_pid, 0) AS denied_not_login_pid, coalesce(a.users_affected, 0) AS users_affected,
       coalesce(a.sessions_affected, 0) AS sessions_affected,
       round(coalesce(a.denied, 0) / nullif(p.requests - coalesce(lg.logins, 0), 0), 3) AS share_of_page_views_denied,
       a.first_denied, a.last_denied, round(a.median_gap_s, 3) AS median_gap_s,
       a.example_source_id, a.example_line_no, a.example_message,
       l.login_source_id, l.login_line_no, l.login_message
FROM per_pod p
LEFT JOIN logins lg USING (pod)
LEFT JOIN agg a USING (pod)
LEFT JOIN login l ON l.pod = p.pod AND l.sid = a.example_sid
ORDER BY denied_cross_pid DESC, p.pod;
