import threading, time, urllib.request, sys
end = time.time() + float(sys.argv[1]); start = time.time()
def hit(path):
    try:
        urllib.request.urlopen("http://127.0.0.1:8123" + path, timeout=10).read()
    except Exception as e:
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())}Z client error {path}: {e!r}", flush=True)
def loop(paths_fn):
    while time.time() < end:
        hit(paths_fn()); time.sleep(0.05)
import itertools
c = itertools.count()
ts = [threading.Thread(target=loop, args=(lambda: "/",)) for _ in range(4)]
ts.append(threading.Thread(target=loop, args=(lambda: "/report/q%d" % next(c) if time.time() - start > 15 else "/",)))
[t.start() for t in ts]; [t.join() for t in ts]
