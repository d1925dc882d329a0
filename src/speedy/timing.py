"""Table 8 and the cache benchmark: distillation time with the teacher cache against running the teacher live."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from speedy.cache import fingerprint, read_cache, write_cache
from speedy.data import read_split
from speedy.kd import CachedTeacher, LiveTeacher, TeacherSource
from speedy.models import load_task_model, load_tokenizer
from speedy.training import (
    DatasetFiles,
    GridJob,
    Schedule,
    Split,
    live_teacher_outputs,
    load_task,
    make_trainer,
    teacher_rows,
)


def _seconds(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def time_distillation(
    config: dict[str, Any], dataset: str, student: str, student_source: str, teacher: dict[str, Any], files: DatasetFiles
) -> dict[str, Any]:
    """Per run: teacher pass F_t, plain student epoch F_s, cached KD (teacher pass included) and live KD, E epochs each.

    F_s is a plain E-epoch run divided by E, so that the floor F_t + E·F_s pays the Trainer's start-up once,
    as the KD runs do.
    """
    timing = config["distillation"]["timing"]
    epochs, teacher_batch = timing["epochs"], config["distillation"]["teacher_batch_size"]
    task = load_task(config, dataset, files.labels)
    teacher_tokenizer = load_tokenizer(teacher["path"])
    teacher_model = load_task_model(teacher["path"], task.model_task, task.labels)
    tokenizer = load_tokenizer(student_source)
    examples = read_split(files.splits["train"])
    train = Split(examples, task.featurize(examples, tokenizer))
    ids = list(examples["id"])
    stamp = fingerprint(teacher["path"], files.splits["train"], config["max_seq_length"], config["qa"]["doc_stride"])
    learning_rate = config["distillation"]["grid"]["learning_rate"][0]

    def train_student(epochs_: int, source: TeacherSource | None) -> float:
        model = load_task_model(student_source, task.model_task, task.labels)
        schedule = Schedule(timing["batch_size"], learning_rate, epochs_, evaluate_each_epoch=False)
        job = GridJob(config, dataset, student, student_source, schedule, files, teacher=source)
        with tempfile.TemporaryDirectory(prefix="speedy-timing-") as scratch:
            trainer = make_trainer(job, task, tokenizer, model, train, None, scratch)
            return _seconds(trainer.train)

    result: dict[str, Any] = {
        "dataset": dataset, "student": student, "teacher": teacher["model"], "batch_size": timing["batch_size"],
        "epochs": epochs, "runs": timing["runs"],
        "teacher_pass_s": [], "student_epoch_s": [], "cached_kd_s": [], "uncached_kd_s": [],
    }
    live = LiveTeacher(live_teacher_outputs(teacher_model, task, teacher_tokenizer, examples, teacher_batch))
    with tempfile.TemporaryDirectory(prefix="speedy-cache-") as scratch:
        cache_file = str(Path(scratch, "train.parquet"))
        for run in range(timing["runs"]):
            print(f"timing run {run + 1}/{timing['runs']}", flush=True)
            started = time.perf_counter()
            write_cache(cache_file, ids, teacher_rows(teacher_model, task, teacher_tokenizer, examples, teacher_batch), stamp)
            cached = CachedTeacher(read_cache(cache_file, stamp, ids))
            teacher_pass = time.perf_counter() - started
            result["teacher_pass_s"].append(teacher_pass)
            result["student_epoch_s"].append(train_student(epochs, None) / epochs)
            result["cached_kd_s"].append(teacher_pass + train_student(epochs, cached))
            result["uncached_kd_s"].append(train_student(epochs, live))
    mean = statistics.mean
    floor = mean(result["teacher_pass_s"]) + epochs * mean(result["student_epoch_s"])
    result["ratio_to_floor"] = mean(result["cached_kd_s"]) / floor
    result["nocache_over_cache"] = mean(result["uncached_kd_s"]) / mean(result["cached_kd_s"])
    return result


def report(path: str) -> str:
    """The cache benchmark's ratios as printed lines (target: ratio_to_floor <= 1.10)."""
    import json

    result = json.loads(Path(path).read_text())
    floor = statistics.mean(result["teacher_pass_s"]) + result["epochs"] * statistics.mean(result["student_epoch_s"])
    return "\n".join(
        [
            f"{result['dataset']}: teacher {result['teacher']} -> student {result['student']}, "
            f"batch {result['batch_size']}, {result['epochs']} epochs, {result['runs']} runs",
            f"F_t (teacher pass) = {statistics.mean(result['teacher_pass_s']):.2f} s, "
            f"F_s (student epoch) = {statistics.mean(result['student_epoch_s']):.2f} s, floor = {floor:.2f} s",
            f"cached KD = {statistics.mean(result['cached_kd_s']):.2f} s, uncached KD = {statistics.mean(result['uncached_kd_s']):.2f} s",
            f"ratio_to_floor = {result['ratio_to_floor']:.3f}  (target <= 1.10)",
            f"nocache_over_cache = {result['nocache_over_cache']:.3f}",
        ]
    )


if __name__ == "__main__":
    import sys

    print(report(sys.argv[1] if len(sys.argv) > 1 else "results/bench/kd_cache.json"))
