"""Hours of healthy request traffic around a time, as a `kubectl logs --prefix --timestamps` file
of a pod of its own: pino-http request lines (about 1 in 40 a 5xx, logged at level 50) and now and
then an error-level line, the steady trickle of bad events a production service logs when nothing
is wrong. Seeded: the same file for the same arguments."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

ROUTES = ["/api/cart", "/api/products/{}", "/api/users/{}/orders", "/health", "/api/search?q=shoes"]


def write(path: Path, start: dt.datetime, end: dt.datetime, *, pod: str = "storefront-6b7c8d9f5-q7w2e",
          per_s: float = 2.0, seed: int = 7) -> int:
    """Lines from start to end, `per_s` a second on average; returns the number written."""
    rng = random.Random(seed)
    t = start
    n = 0
    with path.open("w", encoding="utf-8") as f:
        while t < end:
            t += dt.timedelta(seconds=rng.expovariate(per_s))
            stamp = t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            ms = int(t.timestamp() * 1000)
            if rng.random() < 0.01:
                line = {"level": 50, "time": ms, "pid": 1, "hostname": pod,
                        "msg": f"recommendations widget failed: TypeError: Cannot read properties of undefined (reading 'items') at slot {rng.randint(1, 9)}"}
            else:
                status = 503 if rng.random() < 0.025 else rng.choice([200, 200, 200, 201, 304, 404])
                route = rng.choice(ROUTES).format(rng.randint(1, 99999))
                line = {"level": 50 if status >= 500 else 30, "time": ms, "pid": 1, "hostname": pod,
                        "req": {"id": n, "method": "GET", "url": route, "remoteAddress": f"10.2.{rng.randint(0, 250)}.{rng.randint(1, 250)}"},
                        "res": {"statusCode": status}, "responseTime": rng.randint(2, 400),
                        "msg": "request errored" if status >= 500 else "request completed"}
            f.write(f"[pod/{pod}/storefront] {stamp} {json.dumps(line, separators=(',', ':'))}\n")
            n += 1
    return n
