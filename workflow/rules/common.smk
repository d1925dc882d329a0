"""Config validation, names, grids, each job's slice of the config and path helpers shared by every rule file."""

import inspect
import itertools
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, f"{workflow.basedir}/src")  # this checkout's package, also where another one is pip-installed

import pandas as pd
from snakemake.utils import Paramspace, validate

from speedy.config import ConfigError, built_models, check_references, cut_students, finetune_grid, model_entry, student_names
from speedy.tasks import task_type


validate(config, "../schemas/config.schema.yaml")
try:
    check_references(config)
except ConfigError as error:
    raise WorkflowError(str(error)) from None


# Jobs import the `speedy` package from src/ also where it is not pip-installed (--sdm conda, cluster nodes).
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [f"{workflow.basedir}/src", os.environ.get("PYTHONPATH")]))
# Caches that libraries would write under ~ or $TMPDIR stay in the working folder (Snakemake's own .snakemake/).
# The Hub's cache stays the user's (~/.cache/huggingface), shared across checkouts; XDG_CACHE_HOME (onnxruntime's
# device id, and any other library's cache) is pointed inside.
os.environ.setdefault("HF_HOME", os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface"))
for _variable, _folder in (("MPLCONFIGDIR", "matplotlib"), ("TORCHINDUCTOR_CACHE_DIR", "torchinductor"), ("TRITON_CACHE_DIR", "triton"), ("XDG_CACHE_HOME", "cache")):
    os.environ.setdefault(_variable, os.path.abspath(f".snakemake/speedy/{_folder}"))
os.makedirs(".snakemake/speedy/tmp", exist_ok=True)  # the demo profile's `tmpdir` for jobs (their TMPDIR)
CONDA_ENV = "../../envs/speedy.yaml"  # used with --sdm conda; pinned like requirements.lock

RESULTS = config["results"]  # every output, log and benchmark of this config lives under this folder
DATASETS = list(config["datasets"])
SPLITS = ["train", "validation", "test"]
CANDIDATES = list(config["candidates"])
STUDENTS = student_names(config["students"])
CUT_STUDENTS = cut_students(config["students"])
BENCH_MODELS = list(dict.fromkeys(CANDIDATES + STUDENTS))
DEVICES = list(config["bench"]["devices"])
TEACHERS = config["distillation"]["teachers"]  # k: the k best candidates of a dataset also teach its students together
DISTILLED = {"distilled": 1} | ({f"distilled-k{TEACHERS}": TEACHERS} if TEACHERS > 1 else {})  # published kind -> teachers


def out(path):
    """A path under this config's results folder."""
    return f"{RESULTS}/{path}"


def signature_cached(function):
    """`function` with its signature worked out once: Snakemake inspects input, params and resources functions per job."""
    function.__signature__ = inspect.signature(function)
    return function


def _alternatives(names):
    """A regex that matches exactly one of `names` (longest first, so prefixes cannot win)."""
    return "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True)) or "(?!)"


wildcard_constraints:
    dataset=_alternatives(DATASETS),
    model=_alternatives(list(config["models"]) + STUDENTS),
    split="train|validation|test",
    kind=_alternatives(["finetuned", *DISTILLED]),
    device="cpu|cuda",
    batch_size=r"\d+",
    epochs=r"\d+",
    learning_rate=r"[0-9.]+(e-?\d+)?",


# ------------------------------------------------------------------ each job's slice of the config
def canonical(value):
    """A config value with every mapping's keys sorted, so that reordering keys in the config re-runs nothing."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def entry_of(model):
    """The `models` entry of a candidate or student (family, arch, lr group), its keys in one order."""
    return canonical(model_entry(config["models"], config["students"], model))


def dataset_params(dataset):
    """What prepare_data reads of a dataset: its task type, labels, hub columns and sources (not its metric)."""
    entry = config["datasets"][dataset]
    return canonical({key: entry[key] for key in ("task", "labels", "columns", "splits") if key in entry})


def task_params(dataset):
    """What a dataset's task adaptor reads: its type, label names and the TaskSettings of its type."""
    entry = config["datasets"][dataset]
    values = {"max_seq_length": config["max_seq_length"], "doc_stride": config["doc_stride"], **config["qa"]}
    settings = {key: values[key] for key in task_type(entry["task"]).reads}
    return canonical({"task": entry["task"], "labels": entry.get("labels", []), "settings": settings})


def train_params():
    """What every training job reads: the seed and the `finetune` block, grids aside."""
    settings = {key: value for key, value in config["finetune"].items() if key != "grids"}
    return canonical({"seed": config["seed"], **settings})


def kd_params():
    """What a distillation job reads of the `distillation` block (the loss mix and early stopping)."""
    keys = ("alpha", "temperature", "loss", "max_epochs", "patience")
    return canonical({key: config["distillation"][key] for key in keys})


# ------------------------------------------------------------------ grids (Paramspace)
def _paramspace(points):
    return Paramspace(pd.DataFrame(points), filename_params="*")


FINETUNE_SPACES = {
    model: _paramspace(finetune_grid(config["finetune"]["grids"][entry_of(model)["lr_group"]]))
    for model in CANDIDATES + STUDENTS
}
FINETUNE_PATTERN = next(iter(FINETUNE_SPACES.values())).wildcard_pattern
DISTILL_GRID = config["distillation"]["grid"]
DISTILL_SPACE = _paramspace(
    [
        {"batch_size": b, "learning_rate": lr}
        for b, lr in itertools.product(DISTILL_GRID["batch_size"], DISTILL_GRID["learning_rate"])
    ]
)
# Each grid point's folder name, listed once: Paramspace.instance_patterns walks its DataFrame on every call.
FINETUNE_POINTS = {model: list(space.instance_patterns) for model, space in FINETUNE_SPACES.items()}
DISTILL_POINTS = list(DISTILL_SPACE.instance_patterns)


def distill_stage(kind):
    """The grid of a distilled kind: distill (one teacher, the paper's) or distill-k{k} (k teachers)."""
    return "distill" if DISTILLED[kind] == 1 else f"distill-k{DISTILLED[kind]}"


def grid_stage(kind, model):
    """Which grid a published model comes from: finetune (candidates), ablation (students) or a distill grid."""
    if kind in DISTILLED:
        return distill_stage(kind)
    return "finetune" if model in CANDIDATES else "ablation"


@signature_cached
def grid_points(wildcards):
    """The folder of every grid point behind a published model."""
    stage = grid_stage(wildcards.kind, wildcards.model)
    points = DISTILL_POINTS if wildcards.kind in DISTILLED else FINETUNE_POINTS[wildcards.model]
    return [out(f"grid/{stage}/{wildcards.dataset}/{wildcards.model}/{point}") for point in points]


# ------------------------------------------------------------------ models and data
def model_source(model):
    """What from_pretrained loads for a model: its hub id or folder, or the cut student's folder."""
    if model in CUT_STUDENTS:
        return out(f"students/{model}")
    return config["models"][model]["pretrained"]


def model_input(model):
    """The model as a job input when it is a folder the workflow makes or the user keeps (not a hub id)."""
    source = model_source(model)
    return [source] if source.startswith(f"{RESULTS}/") or Path(source).exists() else []


def local_split_files(dataset):
    """The local source files of a dataset's splits that exist or that a rule makes (hub splits have none).

    A missing user file is left out so that the DAG still plans; prepare_data then names it in its error.
    """
    splits = config["datasets"][dataset]["splits"]
    paths = [splits[s]["path"] for s in SPLITS if "path" in splits[s]]
    return [p for p in paths if p.startswith(f"{RESULTS}/") or Path(p).exists()]


def prepared(dataset):
    """The prepared dataset's folder: its three splits as Parquet, labels.json and report.json (speedy.data)."""
    return out(f"data/{dataset}")


def published(kind, dataset, model):
    """The scores file of a published model."""
    return out(f"scores/{kind}/{dataset}/{model}.json")


# ------------------------------------------------------------------ functions of a job's wildcards
@signature_cached
def job_model_input(wildcards):
    """The model of a job as its input (see model_input)."""
    return model_input(wildcards.model)


@signature_cached
def job_model_source(wildcards):
    """What a job loads as its model (see model_source)."""
    return model_source(wildcards.model)


@signature_cached
def job_metric(wildcards):
    """The metric that scores a job's dataset."""
    return config["datasets"][wildcards.dataset]["metric"]


@signature_cached
def job_task_params(wildcards):
    """The task of a job's dataset (see task_params)."""
    return task_params(wildcards.dataset)


def mem_mb(base):
    """A `mem_mb` resource that grows with each retry."""
    return lambda wildcards, attempt: base * attempt


def all_targets():
    """Every table and figure (tables.smk: the paper's and ours) and the run's environment table."""
    tables = [out(f"tables/{table}.{ext}") for table in [*TABLES, "environment"] for ext in ("csv", "md", "html")]
    figure = [out(f"figures/{name}.{ext}") for name in FIGURES for ext in ("png", "pdf")]
    return tables + figure
