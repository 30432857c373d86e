"""Training data for the nine RadLite tasks (see docs/data.md).

``build_dataset(data_dir, out_dir)`` reads the public data under ``../shared/data`` at build time
and writes JSONL rows to ``out_dir`` -- never into the repository. Every row's ``output`` is
``TASKS[task].render(value)``, and the train/val/test split follows the held-out IU reports for
every task.
"""

from training.data.build import (
    DEFAULT_MAX_PER_TASK,
    LeakageError,
    build_dataset,
    check_split,
    format_counts,
    load_rows,
)
from training.data.iu import SPLITS, DataDirError

__all__ = [
    "DEFAULT_MAX_PER_TASK",
    "SPLITS",
    "DataDirError",
    "LeakageError",
    "build_dataset",
    "check_split",
    "format_counts",
    "load_rows",
]
