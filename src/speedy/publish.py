"""Publishing: keep a grid's best point as a model, score it with the dataset's metric, and write its card."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from speedy import metrics

GridRun = tuple[str, str, str]  # metrics.json, predictions.json and model folder of one grid point


def model_card(scores: dict[str, Any], base: str, usage: str) -> str:
    """A model card (README.md) stating the dataset, the grid point, the scores and how to run the model."""
    how = f"distilled from the cached teacher(s) {scores['grid']['teacher']}" if scores["kind"].startswith("distilled") else "fine-tuned"
    grid = ", ".join(f"{k}={v}" for k, v in scores["grid"].items())
    keys = sorted(set(scores["validation"]) | set(scores["test"]))
    lines = [
        "---",
        "language: es",
        f"base_model: {base}",
        "---",
        f"# {scores['model']} {how} on {scores['dataset']}",
        "",
        f"Made by the speedy-gonzales workflow. Task: {scores['task']}; metric: {scores['metric']}.",
        f"Selected grid point (lowest {scores['selected_by']}): {grid}.",
        "",
        "| split | " + " | ".join(keys) + " |",
        "|---" * (len(keys) + 1) + "|",
    ]
    for split in ("validation", "test"):
        lines.append(f"| {split} | " + " | ".join(f"{scores[split][k]:.4g}" if k in scores[split] else "" for k in keys) + " |")
    lines += ["", "## Use", "", "```python", usage, "```"]
    return "\n".join(lines) + "\n"


def publish_best(runs: Sequence[GridRun], kind: str, metric: str, base: str, out_model: str, out_scores: str) -> dict[str, Any]:
    """Copy the grid point with the lowest selection loss to `out_model`, scored on validation and test, with its card."""
    results = [(json.loads(Path(m).read_text()), p, d) for m, p, d in runs]
    best, predictions_file, model_dir = min(results, key=lambda run: run[0]["validation"]["selection_loss"])
    predictions = json.loads(Path(predictions_file).read_text(encoding="utf-8"))
    split_scores = {split: metrics.compute(metric, p["predictions"], p["references"]) for split, p in predictions.items()}
    scores = {
        **{key: best[key] for key in ("dataset", "model", "task", "grid", "selected_by", "epochs_trained")},
        "kind": kind,
        "metric": metric,
        "validation": {**best["validation"], **split_scores["validation"]},
        "test": split_scores["test"],
    }
    shutil.copytree(model_dir, out_model)
    Path(out_model, "test_predictions.json").write_text(json.dumps(predictions["test"]["predictions"], ensure_ascii=False))
    Path(out_model, "README.md").write_text(model_card(scores, base, best["usage"]))
    Path(out_scores).write_text(json.dumps(scores, indent=2))
    return scores
