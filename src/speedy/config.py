"""Names derived from the workflow config: students, benchmarked models, architectures, grids."""

from __future__ import annotations

from itertools import product
from typing import Any

Config = dict[str, Any]


class ConfigError(ValueError):
    """A config that passes the schema but refers to something that does not exist."""


def student_names(config: Config) -> list[str]:
    """Students: the `tiny` models as they are, then `{cut_from}-{n}` for each layer count n."""
    students = config["students"]
    return list(students["tiny"]) + [f"{students['cut_from']}-{n}" for n in students["layers"]]


def cut_students(config: Config) -> dict[str, int]:
    """Students that are cut from `cut_from`, mapped to their layer count."""
    students = config["students"]
    return {f"{students['cut_from']}-{n}": n for n in students["layers"]}


def bench_models(config: Config) -> list[str]:
    """Every model that is counted and timed: the candidates, then the students."""
    return list(dict.fromkeys(config["candidates"] + student_names(config)))


def model_entry(config: Config, name: str) -> dict[str, Any]:
    """The config entry of a candidate or a student (a cut student inherits `cut_from`'s entry)."""
    if name in config["models"]:
        return config["models"][name]
    layers = cut_students(config).get(name)
    if layers is None:
        raise ConfigError(f"unknown model {name!r}: not under `models` and not a student")
    base = config["models"][config["students"]["cut_from"]]
    return {**base, "arch": {**base["arch"], "num_hidden_layers": layers}}


def finetune_grid(config: Config, model: str) -> list[dict[str, Any]]:
    """The fine-tuning grid points of a model, from its lr group."""
    group = model_entry(config, model)["lr_group"]
    grid = config["finetune"]["grids"][group]
    return [
        {"batch_size": b, "epochs": e, "learning_rate": lr}
        for b, e, lr in product(grid["batch_size"], grid["epochs"], grid["learning_rate"])
    ]


def check_references(config: Config) -> None:
    """Raise one ConfigError naming every cross-reference the schema cannot check."""
    models, datasets = config["models"], config["datasets"]
    problems = [f"candidates: {m!r} is not under `models`" for m in config["candidates"] if m not in models]
    problems += [f"students.tiny: {m!r} is not under `models`" for m in config["students"]["tiny"] if m not in models]
    cut_from = config["students"]["cut_from"]
    if cut_from not in models:
        problems.append(f"students.cut_from: {cut_from!r} is not under `models`")
    elif models[cut_from]["family"] != "albert":
        problems.append(f"students.cut_from: {cut_from!r} must be an ALBERT model")
    for m, entry in models.items():
        if entry["lr_group"] not in config["finetune"]["grids"]:
            problems.append(f"models.{m}.lr_group: {entry['lr_group']!r} has no grid under finetune.grids")
    for d, entry in datasets.items():
        if entry["task"] != "qa" and "labels" not in entry:
            problems.append(f"datasets.{d}: a {entry['task']} dataset needs `labels`")
        expected = {"classification": {"accuracy"}, "token": {"pos_f1", "ner_f1"}, "qa": {"squad"}}[entry["task"]]
        if entry["metric"] not in expected:
            problems.append(f"datasets.{d}.metric: {entry['metric']!r} does not fit task {entry['task']!r}")
    if config["bench"]["reference"] not in models:
        problems.append(f"bench.reference: {config['bench']['reference']!r} is not under `models`")
    timing = config["distillation"]["timing"]
    if timing["dataset"] not in datasets:
        problems.append(f"distillation.timing.dataset: {timing['dataset']!r} is not under `datasets`")
    if timing["student"] not in student_names(config):
        problems.append(f"distillation.timing.student: {timing['student']!r} is not a student")
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
