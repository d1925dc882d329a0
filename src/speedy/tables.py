"""The paper's Tables 1-8 and Figure 1, and the tables and figure beyond it (multi-teacher distillation, the
speed/quality frontier and Figure 2, the best model per latency budget, the paper against this run), built
from the workflow's score, teacher and benchmark files."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
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


HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1em; }}
table {{ border-collapse: collapse; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 0.25em 0.75em; text-align: left; white-space: nowrap; }}
th {{ background: #f3f4f6; position: sticky; top: 0; }}
{numeric} {{ text-align: right; font-variant-numeric: tabular-nums; }}
</style></head>
<body>
{table}
</body></html>
"""


def html_page(cells: pd.DataFrame, numeric: Sequence[bool], title: str) -> str:
    """A self-contained HTML page of a table's formatted cells, numeric columns right-aligned (for the report)."""
    selectors = [f"td:nth-child({i + 1})" for i, right in enumerate(numeric) if right] or ["td.none"]
    table = cells.to_html(index=False, border=0, escape=True)
    return HTML_PAGE.format(title=title, numeric=", ".join(selectors), table=table)


def write_table(
    df: pd.DataFrame, csv_path: str | Path, md_path: str | Path, html_path: str | Path | None = None
) -> None:
    """Write a table as CSV, as a Markdown pipe table and, given `html_path`, as an HTML page for the Snakemake report
    (floats with 2 decimals, missing cells empty)."""
    paths = [path for path in (csv_path, md_path, html_path) if path is not None]
    for path in paths:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(csv_path, index=False)
    cells = df.astype(object).map(_markdown_cell)
    numeric = [is_numeric_dtype(df[column]) for column in df.columns]
    align = ["right" if right else "left" for right in numeric]
    markdown = cells.to_markdown(index=False, disable_numparse=True, colalign=align)
    Path(md_path).write_text(markdown + "\n", encoding="utf-8")
    if html_path is not None:
        Path(html_path).write_text(html_page(cells, numeric, Path(html_path).stem), encoding="utf-8")


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


def multi_teacher(distilled: Sequence[Record], multi: Sequence[Record], layout: Layout, teachers: int) -> pd.DataFrame:
    """Per dataset and student: the test score distilled from one teacher and from `teachers`, and Δ = k − 1 (main metric)."""
    one, many = _index(distilled, "distilled"), _index(multi, f"{teachers}-teacher")
    k_teachers = f"{teachers} teachers"
    rows = []
    for d in layout.datasets:
        for model in layout.students:
            single, several = one.get((d, model)), many.get((d, model))
            both = single is not None and several is not None
            rows.append(
                {
                    "dataset": d,
                    "model": model,
                    "1 teacher": score_cell(single),
                    k_teachers: score_cell(several),
                    "Δ": round(main_score(several) - main_score(single), 2) if both else None,
                }
            )
    return pd.DataFrame(rows, columns=["dataset", "model", "1 teacher", k_teachers, "Δ"])


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


# ------------------------------------------------------------------ paper against run
FIGURE_KEYS = ["table", "model", "method", "dataset", "metric"]


def load_paper(paths: Sequence[str | Path]) -> pd.DataFrame:
    """The paper's published numbers (resources/paper/table*.csv): FIGURE_KEYS and value, one row per figure."""
    frames = []
    for path in paths:
        frame = pd.read_csv(path, dtype={key: str for key in FIGURE_KEYS}, keep_default_na=False)
        missing = [column for column in (*FIGURE_KEYS, "value") if column not in frame.columns]
        if missing:
            raise ValueError(f"{path}: lacks column(s) {missing}; resources/paper/README.md lists the columns")
        frames.append(frame[[*FIGURE_KEYS, "value"]].astype({"value": float}))
    paper = pd.concat(frames, ignore_index=True)
    twice = paper[paper.duplicated(FIGURE_KEYS)]
    if not twice.empty:
        raise ValueError(f"paper figures: two values for {twice.iloc[0][FIGURE_KEYS].to_dict()}")
    return paper


def global_scores(scores: Sequence[Record], datasets: Sequence[str], what: str) -> dict[str, float]:
    """Mean main test metric per model over `datasets` (Table 3's global score), for models scored on all of them."""
    index = _index(scores, what)
    models = dict.fromkeys(model for _, model in index)
    return {
        model: statistics.fmean(main_score(index[(d, model)]) for d in datasets)
        for model in models
        if all((d, model) in index for d in datasets)
    }


def _figure(table: str, model: str, method: str, dataset: str, metric: str, value: Any) -> Record:
    return dict(zip([*FIGURE_KEYS, "value"], (table, model, method, dataset, metric, float(value))))


def run_figures(
    finetuned: Sequence[Record],
    distilled: Sequence[Record],
    macs: pd.DataFrame,
    speed: Sequence[Record],
    kd_cache: Record,
    layout: Layout,
) -> pd.DataFrame:
    """This run's figures keyed like the paper's: speed (Table 1), scores (2), size and score (3), KD time (8)."""
    datasets, rows = list(layout.datasets), []
    for method, scores, what in (("FT", finetuned, "finetuned"), ("KD", distilled, "distilled")):
        for score in scores:
            for metric, value in score["test"].items():
                rows.append(_figure("Table 2", score["model"], method, score["dataset"], metric, value))
        for model, value in global_scores(scores, datasets, what).items():
            rows.append(_figure("Table 3", model, method, "all", "global score", value))
        for entry in macs.itertuples(index=False):  # size and cost do not depend on the method
            rows.append(_figure("Table 3", entry.model, method, "all", "params (M)", entry.params / 1e6))
            rows.append(_figure("Table 3", entry.model, method, "all", "speedup", entry.speedup))
    for record in speed:
        for metric, key in (("ms", "mean_ms"), ("inferences/s", "inferences_per_s")):
            rows.append(_figure("Table 1", record["model"], "-", "-", f"{record['device']} {metric}", record[key]))
    for setting in table8(kd_cache).to_dict("records"):
        for metric in ("mean_s", "speedup"):
            name = f"{setting['setting']} {metric}"
            rows.append(_figure("Table 8", kd_cache["student"], "KD", kd_cache["dataset"], name, setting[metric]))
    return pd.DataFrame(rows, columns=[*FIGURE_KEYS, "value"])


def paper_vs_run(paper: pd.DataFrame, run: pd.DataFrame, note: str = "") -> pd.DataFrame:
    """Every figure the paper reports, with this run's figure and run − paper (empty where the run has none)."""
    twice = run[run.duplicated(FIGURE_KEYS)]
    if not twice.empty:
        raise ValueError(f"run figures: two values for {twice.iloc[0][FIGURE_KEYS].to_dict()}")
    table = paper.rename(columns={"value": "paper"}).merge(
        run.rename(columns={"value": "run"}), on=FIGURE_KEYS, how="left", validate="one_to_one"
    )
    table["run"] = table["run"].round(4)
    table["difference"] = (table["run"] - table["paper"]).round(4)
    table["note"] = note
    return table[[*FIGURE_KEYS, "paper", "run", "difference", "note"]]


# ------------------------------------------------------------------ speed/quality frontier
FRONTIER_COLUMNS = [
    "model", "method", "global score", "speedup", "cpu ms", "cpu inferences/s", "params (M)", "pareto",
    "score retained (%)",
]  # fmt: skip


def pareto_mask(speed: Sequence[float], score: Sequence[float]) -> list[bool]:
    """True where no other point is at least as fast and as good and strictly better on one (equal points all stay)."""
    s, g = np.asarray(speed, dtype=float), np.asarray(score, dtype=float)
    if s.shape != g.shape or s.ndim != 1:
        raise ValueError(f"pareto_mask: {s.size} speeds for {g.size} scores")
    if np.isnan(s).any() or np.isnan(g).any():
        raise ValueError("pareto_mask: speeds and scores must all be numbers (drop the missing ones first)")
    at_least = (s[None, :] >= s[:, None]) & (g[None, :] >= g[:, None])  # [i, j]: j at least as fast and as good as i
    better = (s[None, :] > s[:, None]) | (g[None, :] > g[:, None])
    return [bool(kept) for kept in ~(at_least & better).any(axis=1)]


def _cpu_speed(speed: Sequence[Record]) -> dict[str, Record]:
    """The CPU speed records keyed by model; a second one for the same model is an error."""
    cpu: dict[str, Record] = {}
    for record in speed:
        if record["device"] == "cpu":
            if record["model"] in cpu:
                raise ValueError(f"speed: two cpu entries for model {record['model']!r}")
            cpu[record["model"]] = record
    return cpu


def frontier(
    finetuned: Sequence[Record],
    distilled: Sequence[Record],
    macs: pd.DataFrame,
    speed: Sequence[Record],
    layout: Layout,
    reference: str,
) -> pd.DataFrame:
    """One row per published model (FT: candidates and students, KD: students): score, speed, size, Pareto flag.

    `reference` is the benchmark reference (`bench.reference`): score retained is relative to it, fine-tuned.
    """
    datasets, students = list(layout.datasets), list(layout.students)
    sizes, cpu = macs.set_index("model"), _cpu_speed(speed)
    rows = []
    for method, models, scores, what in (
        ("FT", list(dict.fromkeys([*layout.candidates, *students])), finetuned, "finetuned"),
        ("KD", students, distilled, "distilled"),
    ):
        score = global_scores(scores, datasets, what)
        for model in models:
            size, timing = sizes.loc[model] if model in sizes.index else {}, cpu.get(model, {})
            rows.append(
                {
                    "model": model,
                    "method": method,
                    "global score": score.get(model, math.nan),
                    "speedup": size.get("speedup", math.nan),
                    "cpu ms": timing.get("mean_ms", math.nan),
                    "cpu inferences/s": timing.get("inferences_per_s", math.nan),
                    "params (M)": size.get("params", math.nan) / 1e6,
                }
            )
    table = pd.DataFrame(rows)
    known = table["global score"].notna() & table["speedup"].notna()  # a model without both is never on the frontier
    table["pareto"] = False
    table.loc[known, "pareto"] = pareto_mask(table.loc[known, "speedup"], table.loc[known, "global score"])
    is_reference = (table["model"] == reference) & (table["method"] == "FT")
    reference = table.loc[is_reference, "global score"].max()  # NaN when the reference has no global score
    table["score retained (%)"] = 100 * table["global score"] / reference
    return table[FRONTIER_COLUMNS].round(2).assign(speedup=table["speedup"].round(4))


BUDGET_COLUMNS = ["model", "method", "global score", "cpu ms", "speedup"]


def read_frontier(path: str | Path) -> pd.DataFrame:
    """results/tables/frontier.csv read back, checked to have the frontier's columns."""
    table = pd.read_csv(path)
    if list(table.columns) != FRONTIER_COLUMNS or not pd.api.types.is_bool_dtype(table["pareto"]):
        raise ValueError(f"{path}: columns {list(table.columns)}, expected {FRONTIER_COLUMNS} with pareto True/False")
    return table


def budget_table(frontier_table: pd.DataFrame, budgets_ms: Sequence[float]) -> pd.DataFrame:
    """Per CPU latency budget, the best-scoring model whose measured latency meets it (faster on a tie, else empty)."""
    scored = frontier_table[frontier_table["global score"].notna() & frontier_table["cpu ms"].notna()]
    ranked = scored.sort_values(["global score", "cpu ms"], ascending=[False, True])
    rows = []
    for budget in budgets_ms:
        fits = ranked[ranked["cpu ms"] <= budget]
        best = fits.iloc[0] if len(fits) else None
        rows.append({"budget (ms)": float(budget)} | {c: None if best is None else best[c] for c in BUDGET_COLUMNS})
    return pd.DataFrame(rows, columns=["budget (ms)", *BUDGET_COLUMNS])


LABEL_FONT = 8  # points
LABEL_LINE = 11  # points between stacked labels
LABEL_CHAR = 0.65 * LABEL_FONT  # points: a generous mean character width
LABEL_PLACES = [(side, 4 - LABEL_LINE * shift) for shift in (0, -1, 1, -2, 2, -3, 3, -4, 4) for side in (1, -1)]
Box = tuple[float, float, float, float]  # left, bottom, right, top in display pixels


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _label_points(axes: Axes, points: Sequence[tuple[float, float]], labels: Sequence[str]) -> None:
    """Label each point beside it, right or left and up to 4 lines off (with a leader line), clear of earlier labels."""
    figure = axes.get_figure()
    figure.draw_without_rendering()  # fixes the layout, so that data map to display pixels as they will be drawn
    scale, frame = figure.dpi / 72, axes.bbox.extents
    placed: list[Box] = []
    for (x, y), label in zip(points, labels):
        px, py = axes.transData.transform((x, y))
        width, height = LABEL_CHAR * len(label) * scale, LABEL_LINE * scale
        boxes = {}
        for side, dy in LABEL_PLACES:
            left = px + 4 * side * scale - (width if side < 0 else 0)
            boxes[(side, dy)] = (left, py + dy * scale, left + width, py + dy * scale + height)
        free = (
            place
            for place, box in boxes.items()
            if frame[0] <= box[0] and box[2] <= frame[2] and frame[1] <= box[1] and box[3] <= frame[3]
            and not any(_overlap(box, other) for other in placed)
        )
        side, dy = next(free, LABEL_PLACES[0])  # the default place when no place is free
        placed.append(boxes[(side, dy)])
        text = axes.annotate(
            label, (x, y), textcoords="offset points", xytext=(4 * side, dy), fontsize=LABEL_FONT,
            ha="left" if side > 0 else "right", arrowprops={"arrowstyle": "-", "lw": 0.5} if dy != 4 else None,
        )  # fmt: skip
        text.set_in_layout(False)  # the labels lie inside the axes: the layout must not move them


def figure2(frontier_table: pd.DataFrame, png: str | Path, pdf: str | Path) -> Figure:
    """Figure 2: global score against MAC speedup (log x), the Pareto frontier as a step line, every point labelled."""
    points = frontier_table.dropna(subset=["global score", "speedup"])
    figure = Figure(figsize=(9, 6.5), layout="constrained")
    axes = figure.add_subplot()
    for method, group in points.groupby("method", sort=False):
        axes.scatter(group["speedup"], group["global score"], label=method)
    front = points[points["pareto"]].sort_values(["speedup", "global score"], ascending=[True, False])
    axes.step(front["speedup"], front["global score"], where="pre", color="grey", ls="--", label="Pareto frontier")
    axes.set(xscale="log", xlabel="speedup over the reference (MACs)", ylabel="global score")
    axes.grid(True, which="major", alpha=0.3)
    figure.legend(loc="outside lower center", ncols=3)  # outside the axes: it can hide no point or label
    ordered = points.sort_values("global score", ascending=False)  # stack from the top down
    labels = [f"{model} ({method})" for model, method in zip(ordered["model"], ordered["method"])]
    _label_points(axes, list(zip(ordered["speedup"], ordered["global score"])), labels)
    for path in (png, pdf):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=150)
    return figure


# ------------------------------------------------------------------ deployable students
DEPLOY_COLUMNS = ["dataset", "model", "variant", "file", "metric", "test score", "Δ vs eager", "cpu ms", "speedup", "status"]
DEPLOY_KEYS = ("dataset", "model", "metric", "main", "max_score_drop", "variants")


def deploy_table(reports: Sequence[Record]) -> pd.DataFrame:
    """Per exported student and variant (eager, onnx, int8): main test score, Δ against eager, CPU ms and whether it
    ships (eager is the reference; an export more than `max_score_drop` points below eager is unfit)."""
    rows = []
    for number, report in enumerate(reports):
        missing = [key for key in DEPLOY_KEYS if key not in report]
        if missing:
            raise ValueError(f"deploy report {number} ({report.get('dataset')}/{report.get('model')}) lacks key(s) {missing}")
        for variant, result in report["variants"].items():
            status = "reference" if variant == "eager" else "shipped" if result["fit"] else "unfit"
            rows.append(
                {
                    "dataset": report["dataset"],
                    "model": report["model"],
                    "variant": variant,
                    "file": result["file"],
                    "metric": report["metric"],
                    "test score": round(float(result["score"]), 2),
                    "Δ vs eager": round(float(result["difference"]), 2),
                    "cpu ms": round(float(result["latency"]["mean_ms"]), 3),
                    "speedup": round(float(result["speedup"]), 2),
                    "status": status,
                }
            )
    return pd.DataFrame(rows, columns=DEPLOY_COLUMNS)


# ------------------------------------------------------------------ entry point for scripts/make_table.py
def _paths(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def build_table(name: str, inputs: Mapping[str, Any], layout: Layout, options: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Table `name` from the named inputs of its rule and its options (config values): table1 .. table4, table8,
    an FT-against-KD table, multi_teacher (option teachers), frontier (reference), budget (budgets_ms) or
    paper_vs_run (note)."""
    options = options or {}
    if name == "table1":
        return table1([read_json(p) for p in _paths(inputs["speed"])])
    if name == "table4":
        return table4([read_json(p) for p in _paths(inputs["teachers"])])
    if name == "table8":
        return table8(read_json(inputs["kd_cache"]))
    if name == "budget":
        return budget_table(read_frontier(inputs["frontier"]), options["budgets_ms"])
    distilled = load_scores(_paths(inputs["distilled"]))
    if name == "multi_teacher":
        return multi_teacher(distilled, load_scores(_paths(inputs["multi"])), layout, options["teachers"])
    finetuned = load_scores(_paths(inputs["finetuned"]))
    if name == "table2":
        return table2(finetuned, distilled, layout)
    if name == "table3":
        return table3(load_macs(inputs["macs"]), finetuned, distilled, layout)
    if name in ("frontier", "paper_vs_run"):
        macs, speed = load_macs(inputs["macs"]), [read_json(p) for p in _paths(inputs["speed"])]
        if name == "frontier":
            return frontier(finetuned, distilled, macs, speed, layout, options["reference"])
        run = run_figures(finetuned, distilled, macs, speed, read_json(inputs["kd_cache"]), layout)
        return paper_vs_run(load_paper(_paths(inputs["paper"])), run, options["note"])
    return table_ablation(finetuned, distilled, layout)


def draw_figure(name: str, inputs: Mapping[str, Any], png: str | Path, pdf: str | Path) -> Figure:
    """Figure `name` from the named inputs of its rule: figure1 (macs) or figure2 (frontier)."""
    if name == "figure1":
        return figure1(load_macs(inputs["macs"]), png, pdf)
    if name == "figure2":
        return figure2(read_frontier(inputs["frontier"]), png, pdf)
    raise ValueError(f"unknown figure {name!r}; expected figure1 or figure2")
