"""Task types: one module each in this package, found by name. Nothing outside this package branches on them.

A new task type is one new module here with a `Task` subclass (see `base.Task` for what it fills in).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from functools import cache

from speedy.tasks.base import NO_WORD, Features, RecordError, Task, TaskSettings, TeacherRow

__all__ = ["NO_WORD", "Features", "RecordError", "Task", "TaskSettings", "TeacherRow", "make_task", "task_from_params", "task_type", "task_types"]


@cache
def task_types() -> dict[str, type[Task]]:
    """Every task type of this package, by its config name."""
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")
    return {cls.name: cls for cls in Task.__subclasses__()}


def task_type(name: str) -> type[Task]:
    """The task type named `name` in the config."""
    types = task_types()
    if name not in types:
        raise ValueError(f"unknown task type {name!r}; expected one of {sorted(types)}")
    return types[name]


def make_task(name: str, settings: TaskSettings, labels: Sequence[str] = ()) -> Task:
    """The adaptor of a task type, for these settings and label names."""
    return task_type(name)(settings, labels)


def task_from_params(params: dict) -> Task:
    """The adaptor described by a rule's `task` param: {"task": type, "labels": [...], "settings": {...}}."""
    return make_task(params["task"], TaskSettings(**params["settings"]), params["labels"])
