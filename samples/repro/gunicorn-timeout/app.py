import time, os, sys, logging
logging.basicConfig(level=logging.INFO, format="%(asctime)s.%(msecs)03dZ %(levelname)s [%(process)d] %(name)s: %(message)s", datefmt="%Y-%m-%dT%H:%M:%S")
logging.Formatter.converter = time.gmtime
log = logging.getLogger("app")
def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path.startswith("/report"):
        log.info("building report %s", path)
        time.sleep(5)   # slow endpoint: longer than the worker timeout
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]
