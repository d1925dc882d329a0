"""Publishing: keep a grid's best point as a model, score it with the dataset's metric, and write its card.

A grid point's folder (speedy.grid) is its training job's output, so it stays, but only the best point keeps its
weights: publishing empties the other points' model/ folders (a note says so). The published folder hard-links the best point's files. Then
a grid that grows trains only its new points, and a new metric re-scores without training: the next publish finds
the weights of every point that can win (the new ones, and the old best).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from speedy import metrics
from speedy.grid import GridPoint

PRUNED = "PRUNED.md"  # the note left in the model folder of a grid point that did not win


def prune(model_dir: str | Path, best: dict[str, Any]) -> None:
    """Empty a losing grid point's model folder but for a note naming the winner."""
    for path in Path(model_dir).iterdir():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    grid = ", ".join(f"{k}={v}" for k, v in best["grid"].items())
    Path(model_dir, PRUNED).write_text(f"Weights dropped when publishing: this grid point lost to {grid}.\n", encoding="utf-8")


def link_or_copy(source: str, target: str) -> None:
    """A hard link of `source` at `target`, or a copy where links are not possible (another file system)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


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


def publish_best(folders: Sequence[str], kind: str, metric: str, base: str, out_model: str, out_scores: str) -> dict[str, Any]:
    """Copy the grid point with the lowest selection loss to `out_model`, scored on validation and test, with its card."""
    results = [(json.loads(Path(point.metrics).read_text()), point) for point in map(GridPoint, folders)]
    best, point = min(results, key=lambda run: run[0]["validation"]["selection_loss"])
    model_dir = point.model
    predictions = json.loads(Path(point.predictions).read_text(encoding="utf-8"))
    split_scores = {split: metrics.compute(metric, p["predictions"], p["references"]) for split, p in predictions.items()}
    scores = {
        **{key: best[key] for key in ("dataset", "model", "task", "grid", "selected_by", "epochs_trained")},
        "kind": kind,
        "metric": metric,
        "validation": {**best["validation"], **split_scores["validation"]},
        "test": split_scores["test"],
    }
    if Path(model_dir, PRUNED).exists():
        raise FileNotFoundError(
            f"{model_dir}: the best grid point's weights were dropped by an earlier publish; "
            f"re-run its training job (snakemake --forcerun on {Path(model_dir).parent})"
        )
    for _, other in results:
        if other != point:
            prune(other.model, best)
    shutil.copytree(model_dir, out_model, copy_function=link_or_copy)
    Path(out_model, "test_predictions.json").write_text(json.dumps(predictions["test"]["predictions"], ensure_ascii=False))
    Path(out_model, "README.md").write_text(model_card(scores, base, best["usage"]))
    Path(out_scores).write_text(json.dumps(scores, indent=2))
    return scores
