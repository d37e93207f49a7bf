"""The Spark engine: `pmortem ingest --engine spark PATH... --out DIR`.

Parse on the cluster, analyse the distilled tables on one machine. The driver lists and
fingerprints the inputs and plans tasks: a whole file (compressed, a JSON document, or
smaller than the split size) or a byte range of a large plain file. Each task runs the local
ingest's own chunk parser inside `mapInArrow` (pmortem/spark/tasks.py: one parser, not two);
its parsed steps come back to the driver, which stores them with the local ingest's own store
loop (pmortem/ingest.py, fingerprints, cross-source deduplication, counts, entity
resolution) into a scratch DuckDB file, and writes that out as hive-partitioned Parquet
(pmortem/spark/dataset.py). `pmortem report --data DIR` (and scan, sql, sources) read it
through DuckDB views with the database's table names.

pyspark is imported only here, only when the Spark engine runs: `import pmortem` and the
local engine never load it.
"""

from __future__ import annotations

# mapInArrow's output: one row per parsed step of a task (a pickled record, see tasks.py)
OUT_SCHEMA_FIELDS = (("task", "int32"), ("seq", "int32"), ("rec", "binary"))
OUT_SCHEMA_DDL = "task int, seq int, rec binary"

# byte ranges of a large uncompressed file; a file up to this size is one task
DEFAULT_SPLIT_BYTES = 128 << 20


def ingest(paths, out_dir, opts=None, *, master=None, split_bytes=None, progress=None):
    """Parse `paths` on Spark into the Parquet dataset `out_dir` (see the module docstring)."""
    from .engine import ingest_spark

    return ingest_spark(paths, out_dir, opts, master=master, split_bytes=split_bytes, progress=progress)
