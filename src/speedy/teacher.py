"""The teacher of a dataset: its selection, its cache key, building its cache and opening it for distillation.

`results/teachers/{dataset}.json` ranks every fine-tuned candidate by its selection loss and keeps the best
`count` as teachers, each with the SHA-256 of its weights and tokenizer files: the cache key is computed
from them once, and no distillation job reads or hashes a candidate's folder. Each teacher has its own
cache; a distillation from k teachers joins their rows per example id and combines them (speedy.kd).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from speedy.cache import read_cache, write_cache
from speedy.tasks import Task

if TYPE_CHECKING:
    from speedy.kd import CachedTeacher

log = logging.getLogger(__name__)

CACHE_VERSION = 2  # bump when what a cache row holds changes
TOKENIZER_FILES = ("tokenizer", "vocab", "merges", "spiece", "special_tokens_map")


@dataclass(frozen=True)
class Teacher:
    """One selected teacher: a published fine-tuned candidate."""

    model: str
    path: str
    grid: dict[str, Any]
    selection_loss: float
    weights_sha256: str
    tokenizer_sha256: str


def file_sha256(*paths: str | Path) -> str:
    """SHA-256 over the bytes of the given files, in order."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _folder_hashes(folder: Path) -> tuple[str, str]:
    """The SHA-256 of a model folder's weights and of its tokenizer files."""
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        raise FileNotFoundError(f"{folder}: no safetensors weights")
    tokenizer = sorted(p for p in folder.iterdir() if p.name.startswith(TOKENIZER_FILES))
    return file_sha256(*weights), file_sha256(*tokenizer)


def select_teachers(dataset: str, score_files: Sequence[str], model_dirs: Sequence[str], count: int, out: str) -> dict[str, Any]:
    """Rank the published candidates of a dataset by selection loss and write the best `count` as its teachers."""
    scores = [json.loads(Path(path).read_text()) for path in score_files]
    if not 1 <= count <= len(scores):
        raise ValueError(f"{dataset}: cannot select {count} teacher(s) from {len(scores)} candidate(s); lower distillation.teachers")
    order = sorted(range(len(scores)), key=lambda i: scores[i]["validation"]["selection_loss"])
    teachers = []
    for i in order[:count]:
        weights, tokenizer = _folder_hashes(Path(model_dirs[i]))
        score = scores[i]
        teachers.append(Teacher(score["model"], model_dirs[i], score["grid"], score["validation"]["selection_loss"], weights, tokenizer))
    selection = {
        "dataset": dataset,
        "selected_by": scores[order[0]]["selected_by"],
        "teachers": [asdict(t) for t in teachers],
        "candidates": {scores[i]["model"]: scores[i]["validation"]["selection_loss"] for i in order},
    }
    Path(out).write_text(json.dumps(selection, indent=2))
    return selection


def read_teachers(path: str | Path) -> list[Teacher]:
    """The teachers of a selection file, best first."""
    return [Teacher(**entry) for entry in json.loads(Path(path).read_text())["teachers"]]


def cache_key(teacher: Teacher, data_file: str | Path, task: Task) -> dict[str, Any]:
    """What a teacher cache depends on: the teacher's weights and tokenizer, the prepared data and the task's settings."""
    return {
        "cache_version": CACHE_VERSION,
        "teacher": teacher.model,
        "teacher_weights": teacher.weights_sha256,
        "tokenizer": teacher.tokenizer_sha256,
        "data": file_sha256(data_file),
        "settings": json.dumps(task.read_settings(), sort_keys=True),
    }


def build_cache(teacher: Teacher, task: Task, train_file: str, batch_size: int, out: str) -> None:
    """Run the teacher once over the training split and store its per-example outputs."""
    import torch

    from speedy.data import read_split
    from speedy.models import load_task_model, load_tokenizer
    from speedy.training import teacher_rows

    tokenizer = load_tokenizer(teacher.path, split_words=task.pre_split)
    model = load_task_model(teacher.path, task.auto_model, task.labels)
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    examples = read_split(train_file)
    log.info("teacher %s: %d training examples", teacher.model, len(examples))
    rows = teacher_rows(model, task, tokenizer, examples, batch_size)
    write_cache(out, list(examples["id"]), rows, cache_key(teacher, train_file, task), task.teacher_columns())


def open_caches(
    teachers: Sequence[Teacher],
    task: Task,
    cache_files: Sequence[str],
    train_file: str,
    examples,
    temperature: float = 1.0,
    weighting: str = "equal",
) -> CachedTeacher:
    """The teachers' outputs for the training examples: one teacher's rows as cached, or k teachers' rows joined
    per example id and combined at the KD temperature (speedy.kd.combine_rows, weights by `weighting`).

    Each cache is refused unless it was made for its teacher, this data and these settings, and every row
    checks out (see speedy.cache).
    """
    from speedy.kd import CachedTeacher, combine_rows, teacher_weights  # torch: only distillation jobs need it

    if len(teachers) != len(cache_files) or not teachers:
        raise ValueError(f"{len(teachers)} teacher(s) for {len(cache_files)} cache file(s) {list(cache_files)}")
    ids, columns, words = list(examples["id"]), task.teacher_columns(), task.word_counts(examples)
    caches = [read_cache(path, cache_key(t, train_file, task), ids, columns, words) for t, path in zip(teachers, cache_files)]
    if len(caches) == 1:
        return CachedTeacher(caches[0])
    weights = teacher_weights([t.selection_loss for t in teachers], weighting)
    log.info("combining teachers %s with weights %s at T=%g", [t.model for t in teachers], weights.round(4).tolist(), temperature)
    return CachedTeacher({i: combine_rows([cache[i] for cache in caches], columns, weights, temperature) for i in ids})
