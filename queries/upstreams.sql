-- upstreams.sql: whether any response names the upstream address a proxy sent it to (nginx/ingress
-- `upstream_addr`: in an http_request event's attrs, or in the requests rollup's `upstream`).
--
-- Only then can a pod's "listening on ADDR" line tie a proxy's response to that pod: error_surge.sql
-- and connection_pool.sql take the answer as $upstreams and look for listen lines (a text search of
-- every message) only when it is true. A parameter that is false takes that scan out of the plan;
-- the join filter those queries also rely on skips it over a database file, but not over a Parquet
-- dataset (`report --data`), where DuckDB plans the scan as the join's build side.
-- The same test as those queries' own `ups` (an address with a host part, not ''): true exactly when
-- error_surge.sql's list of upstream addresses is not empty, and whenever connection_pool.sql's is not.
-- Parameters: none.
-- Columns: upstreams (BOOLEAN).
SELECT EXISTS (
           SELECT 1 FROM events
           WHERE kind = 'http_request' AND regexp_extract(attrs->>'upstream_addr', '^\[?([^\]]+?)\]?:\d+$', 1) <> ''
       )
    OR EXISTS (
           SELECT 1 FROM requests WHERE regexp_extract(upstream, '^\[?([^\]]+?)\]?:\d+$', 1) <> ''
       ) AS upstreams;
