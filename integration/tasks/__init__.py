"""The nine RadLite tasks. ``TASKS[name]`` is the contract both serving and training import."""

from __future__ import annotations

from integration.tasks import (
    abnormality_detection,
    impression_generation,
    m_staging,
    n_staging,
    radiology_ner,
    radiology_nli,
    radiology_qa,
    rads_assignment,
    temporal_comparison,
)
from integration.tasks.base import (
    MODES,
    PROMPT_FORMAT_VERSION,
    SYSTEM_PROMPT,
    ParseError,
    SlotBias,
    Slots,
    Task,
    TaskInput,
    TaskResult,
)

TASKS: dict[str, Task] = {
    module.TASK.name: module.TASK
    for module in (
        rads_assignment,
        impression_generation,
        temporal_comparison,
        radiology_ner,
        n_staging,
        m_staging,
        radiology_nli,
        abnormality_detection,
        radiology_qa,
    )
}

def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known: {', '.join(TASKS)}") from None


__all__ = [
    "MODES",
    "PROMPT_FORMAT_VERSION",
    "SYSTEM_PROMPT",
    "TASKS",
    "ParseError",
    "SlotBias",
    "Slots",
    "Task",
    "TaskInput",
    "TaskResult",
    "get_task",
]
