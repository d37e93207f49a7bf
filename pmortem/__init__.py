import os as _os

__version__ = "0.1.0"

# pyarrow imports numpy, whose OpenBLAS starts a thread per core that busy-waits after
# start-up; pmortem does no linear algebra, and on a 2-core node those threads take CPU
# from the ingest's own two. Set before anything imports numpy; a user's value wins.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
