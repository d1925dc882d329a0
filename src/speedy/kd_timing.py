"""Table 8: how long distillation takes with the teacher cache, and with the teacher run at every step instead."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from speedy.cache import read_cache, write_cache
from speedy.data import read_split
from speedy.kd import CachedTeacher, KDSettings, LiveTeacher, TeacherSource
from speedy.models import load_task_model, load_tokenizer
from speedy.tasks import Task
from speedy.teacher import Teacher, cache_key
from speedy.training import GridJob, Schedule, Split, TrainSettings, live_teacher_outputs, make_trainer, teacher_rows


@dataclass(frozen=True)
class TimingSettings:
    """The config's `distillation.timing` block: which dataset and student, batch size, epochs and runs."""

    dataset: str
    student: str
    batch_size: int
    epochs: int
    runs: int


def _seconds(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def time_distillation(
    timing: TimingSettings, task: Task, teacher: Teacher, source: str, train_file: str,
    settings: TrainSettings, kd: KDSettings, learning_rate: float, teacher_batch_size: int,
) -> dict[str, Any]:  # fmt: skip
    """Per run: teacher pass F_t, plain student epoch F_s, cached KD (teacher pass included) and live KD, E epochs each.

    F_s is a plain E-epoch run divided by E, so that the floor F_t + E·F_s pays the Trainer's start-up once,
    as the KD runs do.
    """
    epochs = timing.epochs
    teacher_tokenizer = load_tokenizer(teacher.path, split_words=task.pre_split)
    teacher_model = load_task_model(teacher.path, task.auto_model, task.labels)
    tokenizer = load_tokenizer(source, split_words=task.pre_split)
    examples = read_split(train_file)
    train = Split(examples, task.featurize(examples, tokenizer))
    ids = list(examples["id"])
    key = cache_key(teacher, train_file, task)

    def train_student(source_: TeacherSource | None) -> float:
        model = load_task_model(source, task.auto_model, task.labels)
        schedule = Schedule(timing.batch_size, learning_rate, epochs, evaluate_each_epoch=False)
        job = GridJob(timing.dataset, timing.student, source, task, settings, schedule, {}, teacher=source_, kd=kd)
        with tempfile.TemporaryDirectory(prefix="speedy-timing-") as scratch:
            return _seconds(make_trainer(job, tokenizer, model, train, None, scratch).train)

    result: dict[str, Any] = {
        "dataset": timing.dataset, "student": timing.student, "teacher": teacher.model, "batch_size": timing.batch_size,
        "epochs": epochs, "runs": timing.runs,
        "teacher_pass_s": [], "student_epoch_s": [], "cached_kd_s": [], "uncached_kd_s": [],
    }  # fmt: skip
    live = LiveTeacher(live_teacher_outputs(teacher_model, task, teacher_tokenizer, examples, teacher_batch_size))
    with tempfile.TemporaryDirectory(prefix="speedy-cache-") as scratch:
        cache_file = str(Path(scratch, "train.parquet"))
        for run in range(timing.runs):
            print(f"timing run {run + 1}/{timing.runs}", flush=True)
            started = time.perf_counter()
            rows = teacher_rows(teacher_model, task, teacher_tokenizer, examples, teacher_batch_size)
            write_cache(cache_file, ids, rows, key, task.teacher_columns())
            cached = CachedTeacher(read_cache(cache_file, key, ids, task.teacher_columns(), task.word_counts(examples)))
            teacher_pass = time.perf_counter() - started
            result["teacher_pass_s"].append(teacher_pass)
            result["student_epoch_s"].append(train_student(None) / epochs)
            result["cached_kd_s"].append(teacher_pass + train_student(cached))
            result["uncached_kd_s"].append(train_student(live))
    mean = statistics.mean
    floor = mean(result["teacher_pass_s"]) + epochs * mean(result["student_epoch_s"])
    result["ratio_to_floor"] = mean(result["cached_kd_s"]) / floor
    result["nocache_over_cache"] = mean(result["uncached_kd_s"]) / mean(result["cached_kd_s"])
    return result


def report(path: str) -> str:
    """The cache benchmark's ratios as printed lines (target: ratio_to_floor <= 1.10)."""
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
