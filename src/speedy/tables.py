"""The paper's Tables 1-8 and Figure 1, built from the workflow's score, teacher and benchmark files."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from pandas.api.types import is_numeric_dtype

from speedy.metrics import MAIN_METRIC, headline

Record = dict[str, Any]
Cell = float | str | None

MACS_COLUMNS = ["model", "family", "params", "macs", "speedup"]
SCORE_KEYS = ("dataset", "model", "kind", "metric", "test")


@dataclass(frozen=True)
class Layout:
    """What a table lists: its datasets (columns, in config order), the candidates and the students (rows)."""

    datasets: Sequence[str]
    candidates: Sequence[str]
    students: Sequence[str]


# ------------------------------------------------------------------ reading and writing
def read_json(path: str | Path) -> Any:
    """The parsed content of a JSON file."""
    with open(path, encoding="utf-8") as stream:
        return json.load(stream)


def load_scores(paths: Sequence[str | Path]) -> list[Record]:
    """Scores files, each checked for the keys the tables read (errors name the file)."""
    scores = []
    for path in paths:
        score = read_json(path)
        missing = [key for key in SCORE_KEYS if key not in score]
        if missing:
            raise ValueError(f"{path}: scores file lacks key(s) {missing}")
        if score["metric"] not in MAIN_METRIC:
            raise ValueError(f"{path}: unknown metric {score['metric']!r}")
        if MAIN_METRIC[score["metric"]] not in score["test"]:
            raise ValueError(f"{path}: `test` needs {MAIN_METRIC[score['metric']]!r} for metric {score['metric']!r}")
        scores.append(score)
    return scores


def load_macs(path: str | Path) -> pd.DataFrame:
    """results/bench/macs.csv, checked to have exactly the columns model,family,params,macs,speedup."""
    macs = pd.read_csv(path)
    if list(macs.columns) != MACS_COLUMNS:
        raise ValueError(f"{path}: columns are {list(macs.columns)}, expected {MACS_COLUMNS}")
    return macs


def _markdown_cell(value: Any) -> str:
    if pd.isna(value):
        return ""
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def write_table(df: pd.DataFrame, csv_path: str | Path, md_path: str | Path) -> None:
    """Write a table as CSV and as a Markdown pipe table (floats with 2 decimals, missing cells empty)."""
    for path in (csv_path, md_path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(csv_path, index=False)
    cells = df.astype(object).map(_markdown_cell)
    align = ["right" if is_numeric_dtype(df[column]) else "left" for column in df.columns]
    markdown = cells.to_markdown(index=False, disable_numparse=True, colalign=align)
    Path(md_path).write_text(markdown + "\n", encoding="utf-8")


# ------------------------------------------------------------------ score cells
def _index(scores: Sequence[Record], what: str) -> dict[tuple[str, str], Record]:
    """Scores keyed by (dataset, model); a second entry for the same pair is an error."""
    index: dict[tuple[str, str], Record] = {}
    for score in scores:
        key = (score["dataset"], score["model"])
        if key in index:
            raise ValueError(f"{what} scores: two entries for dataset {key[0]!r}, model {key[1]!r}")
        index[key] = score
    return index


def main_score(score: Record) -> float:
    """The main test metric of a scores record (accuracy, or F1 for token and QA tasks)."""
    return float(score["test"][MAIN_METRIC[score["metric"]]])


def score_cell(score: Record | None) -> Cell:
    """A table cell: the metric's headline test figure (see speedy.metrics.headline); None when missing."""
    return None if score is None else headline(score["metric"], score["test"])


# ------------------------------------------------------------------ tables
def table1(speed: Sequence[Record]) -> pd.DataFrame:
    """Inference speed: one row per model, inferences per second and mean ± SD ms per device."""
    rows: dict[str, Record] = {}
    for record in speed:
        row = rows.setdefault(record["model"], {"model": record["model"]})
        device = record["device"]
        if f"{device} inferences/s" in row:
            raise ValueError(f"speed: two entries for model {record['model']!r} on device {device!r}")
        row[f"{device} inferences/s"] = round(float(record["inferences_per_s"]), 2)
        row[f"{device} ms"] = f"{record['mean_ms']:.2f} ± {record['sd_ms']:.2f}"
    return pd.DataFrame(list(rows.values()))


def table2(finetuned: Sequence[Record], distilled: Sequence[Record], layout: Layout) -> pd.DataFrame:
    """Test scores: every candidate fine-tuned (FT), then every student distilled (KD); a column per dataset."""
    datasets = list(layout.datasets)
    rows = []
    for method, models, scores in (
        ("FT", layout.candidates, _index(finetuned, "finetuned")),
        ("KD", layout.students, _index(distilled, "distilled")),
    ):
        for model in models:
            rows.append({"model": model, "method": method} | {d: score_cell(scores.get((d, model))) for d in datasets})
    return pd.DataFrame(rows, columns=["model", "method", *datasets])


def table3(macs: pd.DataFrame, finetuned: Sequence[Record], distilled: Sequence[Record], layout: Layout) -> pd.DataFrame:
    """Size, speedup and global score (mean main test metric over all datasets: KD for students, FT otherwise)."""
    datasets, students = list(layout.datasets), set(layout.students)
    ft, kd = _index(finetuned, "finetuned"), _index(distilled, "distilled")
    rows = []
    for entry in macs.itertuples(index=False):
        scores = kd if entry.model in students else ft
        found = [scores[(d, entry.model)] for d in datasets if (d, entry.model) in scores]
        score = round(statistics.fmean(map(main_score, found)), 2) if len(found) == len(datasets) else None
        rows.append(
            {
                "model": entry.model,
                "params (M)": round(entry.params / 1e6, 2),
                "speedup": f"x{entry.speedup:.1f}",
                "global score": score,
            }
        )
    return pd.DataFrame(rows, columns=["model", "params (M)", "speedup", "global score"])


def table4(selections: Sequence[Record]) -> pd.DataFrame:
    """Selected teachers: per dataset, the best candidate, its grid point, its selection loss and what that loss is."""
    rows = []
    for selection in selections:
        best = selection["teachers"][0]
        rows.append(
            {"dataset": selection["dataset"], "teacher": best["model"]}
            | {key: str(value) for key, value in best["grid"].items()}
            | {"selection_loss": round(float(best["selection_loss"]), 2), "selected by": selection["selected_by"]}
        )
    return pd.DataFrame(rows)


def table_ablation(finetuned: Sequence[Record], distilled: Sequence[Record], layout: Layout) -> pd.DataFrame:
    """Students fine-tuned (FT) against distilled (KD) on the layout's datasets (one task type), with Δ = KD − FT."""
    datasets = list(layout.datasets)
    if not datasets:
        raise ValueError("an ablation table needs at least one dataset")
    ft, kd = _index(finetuned, "finetuned"), _index(distilled, "distilled")
    rows = []
    for model in layout.students:
        row: dict[str, Cell] = {"model": model}
        for d in datasets:
            plain, student = ft.get((d, model)), kd.get((d, model))
            row[f"{d} FT"], row[f"{d} KD"] = score_cell(plain), score_cell(student)
            both = plain is not None and student is not None
            row[f"{d} Δ"] = round(main_score(student) - main_score(plain), 2) if both else None
        rows.append(row)
    columns = ["model", *(f"{d} {part}" for d in datasets for part in ("FT", "KD", "Δ"))]
    return pd.DataFrame(rows, columns=columns)


def _runs(kd_cache: Record, key: str) -> list[float]:
    values = kd_cache.get(key)
    if not isinstance(values, list) or len(values) < 2:
        raise ValueError(f"kd_cache: {key!r} must list one time per run, at least 2 runs (got {values!r})")
    return [float(v) for v in values]


def table8(kd_cache: Record) -> pd.DataFrame:
    """Distillation time with and without the teacher cache, and the floor F_t + E·F_s (mean and sample SD)."""
    epochs = kd_cache["epochs"]
    floor = [t + epochs * s for t, s in zip(_runs(kd_cache, "teacher_pass_s"), _runs(kd_cache, "student_epoch_s"))]
    settings = {
        "with cache": _runs(kd_cache, "cached_kd_s"),
        "without cache": _runs(kd_cache, "uncached_kd_s"),
        "floor F_t + E·F_s": floor,
    }
    if len({len(times) for times in settings.values()}) != 1:
        raise ValueError("kd_cache: the per-run lists have different lengths")
    uncached, floor_mean = statistics.fmean(settings["without cache"]), statistics.fmean(floor)
    rows = []
    for setting, times in settings.items():
        mean = statistics.fmean(times)
        rows.append(
            {
                "setting": setting,
                "mean_s": round(mean, 2),
                "sd_s": round(statistics.stdev(times), 2),
                "speedup": round(uncached / mean, 2),
                "ratio_to_floor": round(mean / floor_mean, 2),
            }
        )
    return pd.DataFrame(rows)


def figure1(macs: pd.DataFrame, png: str | Path, pdf: str | Path) -> Figure:
    """Figure 1: parameters against MACs on log axes, one labelled point per model (per size and cost), as PNG and PDF."""
    figure = Figure(figsize=(7, 5), layout="constrained")
    axes = figure.add_subplot()
    axes.scatter(macs["params"], macs["macs"])
    placed: list[tuple[float, float]] = []
    for (params, count), models in macs.groupby(["params", "macs"], sort=False)["model"]:
        label = ", ".join(models)  # models of the same size and cost share one point and one label
        point = (math.log10(params), math.log10(count))
        crowded = sum(abs(point[0] - x) < 0.3 and abs(point[1] - y) < 0.03 for x, y in placed)
        placed.append(point)
        axes.annotate(label, (params, count), textcoords="offset points", xytext=(4, 4 - 11 * crowded), fontsize=8)
    axes.set(xscale="log", yscale="log", xlabel="parameters", ylabel="MACs")
    axes.grid(True, which="major", alpha=0.3)
    for path in (png, pdf):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=150)
    return figure


# ------------------------------------------------------------------ entry point for scripts/make_table.py
def _paths(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def build_table(name: str, inputs: Mapping[str, Any], layout: Layout) -> pd.DataFrame:
    """Table `name` from the named inputs of its rule: table1 .. table4, table8, or an FT-against-KD table."""
    if name == "table1":
        return table1([read_json(p) for p in _paths(inputs["speed"])])
    if name == "table4":
        return table4([read_json(p) for p in _paths(inputs["teachers"])])
    if name == "table8":
        return table8(read_json(inputs["kd_cache"]))
    finetuned, distilled = load_scores(_paths(inputs["finetuned"])), load_scores(_paths(inputs["distilled"]))
    if name == "table2":
        return table2(finetuned, distilled, layout)
    if name == "table3":
        return table3(load_macs(inputs["macs"]), finetuned, distilled, layout)
    return table_ablation(finetuned, distilled, layout)
