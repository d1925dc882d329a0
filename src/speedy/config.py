"""The workflow config: names derived from it (students, benchmarked models, grids) and its planning-time checks.

`check_references` is the one function that reads the whole config: it runs while Snakemake plans, before
any job, and refuses a config whose parts do not fit together. Jobs get typed slices, never the config.
"""

from __future__ import annotations

import json
from itertools import product
from pathlib import Path
from typing import Any

Config = dict[str, Any]


class ConfigError(ValueError):
    """A config that passes the schema but whose parts do not fit together."""


def student_names(students: Config) -> list[str]:
    """Students (the config's `students` block): the `tiny` models as they are, then `{cut_from}-{n}` for each n."""
    return list(students["tiny"]) + list(cut_students(students))


def cut_students(students: Config) -> dict[str, int]:
    """Students that are cut from `cut_from`, mapped to their layer count."""
    return {f"{students['cut_from']}-{n}": n for n in students["layers"]}


def model_entry(models: Config, students: Config, name: str) -> dict[str, Any]:
    """The `models` entry of a candidate or a student (a cut student inherits `cut_from`'s entry, with fewer layers)."""
    if name in models:
        return models[name]
    layers = cut_students(students).get(name)
    if layers is None:
        raise ConfigError(f"unknown model {name!r}: not under `models` and not a student")
    base = models[students["cut_from"]]
    return {**base, "arch": {**base["arch"], layer_key(base["family"]): layers}}


def layer_key(family: str) -> str:
    """The `arch` field that holds a family's number of layers."""
    return "n_layers" if family == "distilbert" else "num_hidden_layers"


def finetune_grid(grid: Config) -> list[dict[str, Any]]:
    """The points of one fine-tuning grid (a `finetune.grids` entry)."""
    return [
        {"batch_size": b, "epochs": e, "learning_rate": lr}
        for b, e, lr in product(grid["batch_size"], grid["epochs"], grid["learning_rate"])
    ]


def _local_layers(source: str) -> int | None:
    """The layer count in a local model folder's config.json, if there is one."""
    path = Path(source, "config.json")
    return json.loads(path.read_text()).get("num_hidden_layers") if path.is_file() else None


def built_models(config: Config) -> list[str]:
    """The models whose `pretrained` folder lies under the results root: the demo rules build them."""
    results = config.get("results", "results").rstrip("/") + "/"
    return [m for m, entry in config["models"].items() if entry["pretrained"].startswith(results)]


def check_references(config: Config) -> None:
    """Raise one ConfigError naming every part of the config that does not fit the rest (what the schema cannot check)."""
    from speedy.data import FORMAT_FIELDS
    from speedy.tasks import TaskSettings, task_types

    models, datasets, students = config["models"], config["datasets"], config["students"]
    tasks = task_types()
    problems = [f"candidates: {m!r} is not under `models`" for m in config["candidates"] if m not in models]
    problems += [f"students.tiny: {m!r} is not under `models`" for m in students["tiny"] if m not in models]
    cut_from = students["cut_from"]
    if cut_from not in models:
        problems.append(f"students.cut_from: {cut_from!r} is not under `models`")
    elif models[cut_from]["family"] != "albert":
        problems.append(f"students.cut_from: {cut_from!r} must be an ALBERT model")
    else:
        base = models[cut_from]
        layers = [base["arch"].get("num_hidden_layers"), _local_layers(base["pretrained"])]
        for n in students["layers"]:
            for most in filter(None, layers):
                if n > most:
                    problems.append(f"students.layers: {n} is more than the {most} layers of {cut_from!r}")
                    break
    for m, entry in models.items():
        if entry["lr_group"] not in config["finetune"]["grids"]:
            problems.append(f"models.{m}.lr_group: {entry['lr_group']!r} has no grid under finetune.grids")
    settings = TaskSettings(max_seq_length=config["max_seq_length"], doc_stride=config["doc_stride"], **config["qa"])
    for name in sorted({entry["task"] for entry in datasets.values()} & set(tasks)):
        problems += tasks[name].settings_problems(settings)
    for d, entry in datasets.items():
        task = tasks.get(entry["task"])
        if task is None:
            problems.append(f"datasets.{d}.task: {entry['task']!r} is not a task type; expected one of {sorted(tasks)}")
            continue
        if task.needs_labels and "labels" not in entry:
            problems.append(f"datasets.{d}: a {task.name} dataset needs `labels`")
        if entry["metric"] not in task.metrics:
            problems.append(f"datasets.{d}.metric: {entry['metric']!r} does not fit task {task.name!r}; expected one of {list(task.metrics)}")
        for split, spec in entry["splits"].items():
            if "format" in spec and not set(task.fields) <= set(FORMAT_FIELDS[spec["format"]]):
                problems.append(f"datasets.{d}.splits.{split}.format: {spec['format']!r} holds no {task.name} data")
    if config["bench"]["reference"] not in models:
        problems.append(f"bench.reference: {config['bench']['reference']!r} is not under `models`")
    distillation, study = config["distillation"], config.get("study")
    if distillation.get("teachers", 1) > len(config["candidates"]):
        problems.append(f"distillation.teachers: {distillation['teachers']} teachers, but only {len(config['candidates'])} candidates")
    if study:
        if study["dataset"] not in datasets:
            problems.append(f"study.dataset: {study['dataset']!r} is not under `datasets`")
        if study["student"] not in student_names(students):
            problems.append(f"study.student: {study['student']!r} is not a student")
    elif distillation.get("settings_from") == "study":
        problems.append("distillation.settings_from: `study` needs a `study` block in the config")
    timing = config["distillation"]["timing"]
    if timing["dataset"] not in datasets:
        problems.append(f"distillation.timing.dataset: {timing['dataset']!r} is not under `datasets`")
    if timing["student"] not in student_names(students):
        problems.append(f"distillation.timing.student: {timing['student']!r} is not a student")
    built = built_models(config)
    if built and "world" not in config:
        problems.append(f"world: models {built} are built under {config.get('results', 'results')!r} by the demo rules, which need a `world` block")
    exported: set[tuple[str, str]] = set()
    for n, entry in enumerate(config.get("export", [])):
        if entry["dataset"] not in datasets:
            problems.append(f"export[{n}].dataset: {entry['dataset']!r} is not under `datasets`")
        for student in entry["students"]:
            if student not in student_names(students):
                problems.append(f"export[{n}].students: {student!r} is not a student")
            elif (entry["dataset"], student) in exported:
                problems.append(f"export[{n}]: {student!r} on {entry['dataset']!r} is listed twice")
            exported.add((entry["dataset"], student))
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
