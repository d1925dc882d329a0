"""Config validation, names, grids and path helpers shared by every rule file."""

import itertools
import os
import re
from pathlib import Path

import pandas as pd
from snakemake.utils import Paramspace, validate

from speedy.config import ConfigError, bench_models, check_references, cut_students, finetune_grid, student_names


validate(config, "../schemas/config.schema.yaml")
try:
    check_references(config)
except ConfigError as error:
    raise WorkflowError(str(error)) from None


# Jobs import the `speedy` package from src/ also where it is not pip-installed (--sdm conda, cluster nodes).
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [f"{workflow.basedir}/src", os.environ.get("PYTHONPATH")]))
CONDA_ENV = "../../envs/speedy.yaml"  # used with --sdm conda; pinned like requirements.lock

DATASETS = list(config["datasets"])
SPLITS = ["train", "validation", "test"]
CANDIDATES = list(config["candidates"])
STUDENTS = student_names(config)
CUT_STUDENTS = cut_students(config)
BENCH_MODELS = bench_models(config)
DEVICES = list(config["bench"]["devices"])
TASK_TYPES = {"classification": "table5", "token": "table6", "qa": "table7"}


def _alternatives(names):
    """A regex that matches exactly one of `names` (longest first, so prefixes cannot win)."""
    return "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))


wildcard_constraints:
    dataset=_alternatives(DATASETS),
    model=_alternatives(list(config["models"]) + STUDENTS),
    split="train|validation|test",
    kind="finetuned|distilled",
    device="cpu|cuda",
    batch_size=r"\d+",
    epochs=r"\d+",
    learning_rate=r"[0-9.]+(e-?\d+)?",


# ------------------------------------------------------------------ grids (Paramspace)
def _paramspace(points):
    return Paramspace(pd.DataFrame(points), filename_params="*")


FINETUNE_SPACES = {model: _paramspace(finetune_grid(config, model)) for model in CANDIDATES + STUDENTS}
FINETUNE_PATTERN = next(iter(FINETUNE_SPACES.values())).wildcard_pattern
DISTILL_SPACE = _paramspace(
    [
        {"batch_size": b, "learning_rate": lr}
        for b, lr in itertools.product(
            config["distillation"]["grid"]["batch_size"], config["distillation"]["grid"]["learning_rate"]
        )
    ]
)


def grid_stage(kind, model):
    """Which grid a published model comes from: finetune (candidates), ablation (students) or distill."""
    if kind == "distilled":
        return "distill"
    return "finetune" if model in CANDIDATES else "ablation"


def grid_points(kind, model):
    """The grid point folder names of a published model."""
    space = DISTILL_SPACE if kind == "distilled" else FINETUNE_SPACES[model]
    return list(space.instance_patterns)


def grid_runs(wildcards, what):
    """The `metrics.json` or `model` of every grid point behind results/models/{kind}/{dataset}/{model}."""
    stage = grid_stage(wildcards.kind, wildcards.model)
    return [
        f"results/grid/{stage}/{wildcards.dataset}/{wildcards.model}/{point}/{what}"
        for point in grid_points(wildcards.kind, wildcards.model)
    ]


# ------------------------------------------------------------------ models and data
def model_source(model):
    """What from_pretrained loads for a model: its hub id or folder, or the cut student's folder."""
    if model in CUT_STUDENTS:
        return f"results/students/{model}"
    return config["models"][model]["pretrained"]


def model_input(model):
    """The model as a job input when it is a file the workflow makes or the user keeps (not a hub id)."""
    source = model_source(model)
    return [source] if source.startswith("results/") or Path(source).exists() else []


def local_split_files(dataset):
    """The local source files of a dataset's splits that exist or that a rule makes (hub splits have none).

    A missing user file is left out so that the DAG still plans; prepare_data then names it in its error.
    """
    splits = config["datasets"][dataset]["splits"]
    paths = [splits[s]["path"] for s in SPLITS if "path" in splits[s]]
    return [p for p in paths if p.startswith("results/") or Path(p).exists()]


def prepared(dataset, split):
    """The prepared Parquet file of one split."""
    return f"results/data/{dataset}/{split}.parquet"


def prepared_inputs(dataset):
    """The three prepared splits and the label file of a dataset, as named inputs."""
    return {**{split: prepared(dataset, split) for split in SPLITS}, "labels": f"results/data/{dataset}/labels.json"}


def published(kind, dataset, model):
    """The scores file of a published model."""
    return f"results/scores/{kind}/{dataset}/{model}.json"


def settings(*keys):
    """The config sections a job reads, as a param, so that changing them re-runs the job."""
    return {key: config[key] for key in ("seed", "max_seq_length", "qa", *keys)}


def mem_mb(base):
    """A `mem_mb` resource that grows with each retry."""
    return lambda wildcards, attempt: base * attempt


def all_targets():
    """Everything the paper reports (Tables 1-8, Figure 1), plus the optimized-inference benchmark of the students."""
    tables = [f"results/tables/table{n}.{ext}" for n in range(1, 9) for ext in ("csv", "md")]
    optimized = [f"results/bench/optimized/{m}.json" for m in STUDENTS] if config["bench"]["optimized"] else []
    return tables + ["results/figures/figure1.png", "results/figures/figure1.pdf"] + optimized
