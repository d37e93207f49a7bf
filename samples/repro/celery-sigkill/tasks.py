"""A Celery app whose `render` task loses its pool process on every 7th job: the kernel's OOM
killer taking the prefork child that renders a big export, emulated with SIGKILL (a container
memory limit cannot be set from here; the log lines are Celery's own either way)."""

import os
import signal
import time

from celery import Celery

Q = os.environ["CELERY_QUEUE_DIR"]
app = Celery("reports", broker="filesystem://", backend=f"file://{Q}/results")
app.conf.broker_transport_options = {"data_folder_in": f"{Q}/out", "data_folder_out": f"{Q}/out",
                                     "data_folder_processed": f"{Q}/processed"}


@app.task
def render(n):
    time.sleep(0.05)
    if n % 7 == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return n * 2
