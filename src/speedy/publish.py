"""Publishing: keep a grid's best point as a model with its card, and pick each dataset's teacher."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

# The transformers pipeline of each task type; QA models carry theirs (speedy.qa_pipeline) as remote code.
PIPELINES = {
    "classification": 'pipeline("text-classification", model="<this folder>")',
    "token": 'pipeline("token-classification", model="<this folder>")',
    "qa": 'pipeline("question-answering", model="<this folder>", trust_remote_code=True)',
}


def model_card(scores: dict[str, Any], base: str) -> str:
    """A model card (README.md) stating the dataset, the grid point and the scores."""
    how = "distilled from the cached teacher " + scores["grid"].get("teacher", "") if scores["kind"] == "distilled" else "fine-tuned"
    grid = ", ".join(f"{k}={v}" for k, v in scores["grid"].items())
    lines = [
        "---",
        "language: es",
        f"base_model: {base}",
        "---",
        f"# {scores['model']} {how} on {scores['dataset']}",
        "",
        f"Made by the speedy-gonzales workflow. Task: {scores['task']}; metric: {scores['metric']}.",
        f"Selected grid point (lowest validation loss): {grid}.",
        "",
        "| split | " + " | ".join(sorted(set(scores["validation"]) | set(scores["test"]))) + " |",
    ]
    keys = sorted(set(scores["validation"]) | set(scores["test"]))
    lines.append("|---" * (len(keys) + 1) + "|")
    for split in ("validation", "test"):
        lines.append(f"| {split} | " + " | ".join(f"{scores[split][k]:.4g}" if k in scores[split] else "" for k in keys) + " |")
    lines += ["", "## Use", "", "```python", "from transformers import pipeline", "", PIPELINES[scores["task"]], "```"]
    return "\n".join(lines) + "\n"


def publish_best(metrics_files: list[str], model_dirs: list[str], kind: str, base: str, out_model: str, out_scores: str) -> dict[str, Any]:
    """Copy the grid point with the lowest validation loss to `out_model`, with a model card and its scores."""
    runs = [(json.loads(Path(m).read_text()), d) for m, d in zip(metrics_files, model_dirs)]
    best, best_dir = min(runs, key=lambda run: run[0]["validation"]["loss"])
    scores = {**best, "kind": kind}
    shutil.copytree(best_dir, out_model)
    Path(out_model, "README.md").write_text(model_card(scores, base))
    Path(out_scores).write_text(json.dumps(scores, indent=2))
    return scores


def select_teacher(score_files: list[str], out: str) -> dict[str, Any]:
    """Write the published fine-tuned model with the lowest validation loss as the dataset's teacher."""
    scores = [json.loads(Path(path).read_text()) for path in score_files]
    best = min(scores, key=lambda s: s["validation"]["loss"])
    teacher = {
        "dataset": best["dataset"],
        "model": best["model"],
        "grid": best["grid"],
        "validation_loss": best["validation"]["loss"],
        "path": f"results/models/finetuned/{best['dataset']}/{best['model']}",
        "candidates": {s["model"]: s["validation"]["loss"] for s in scores},
    }
    Path(out).write_text(json.dumps(teacher, indent=2))
    return teacher
