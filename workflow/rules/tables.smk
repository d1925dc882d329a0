# Tables 1-8 and Figure 1 as in the paper, and beyond it: multi-teacher distillation, the speed/quality
# frontier (table and Figure 2), the best model per latency budget and the paper against this run.
# One rule writes every table (scripts/make_table.py), one every figure (scripts/make_figure.py); each output
# goes into the Snakemake report with its caption, workflow/report/{name}.rst (a table as an HTML page, which the
# report shows; it would only offer Markdown for download). Rule environment records the
# run's hardware and versions for the report (workflow/report/environment.rst).

from speedy.metrics import DESCRIPTION as METRIC_DESCRIPTION, MAIN_METRIC

ABLATION_TABLES = {}  # the FT-against-KD table of each task type (the paper's Tables 5-7)
for _dataset, _entry in config["datasets"].items():
    _task = task_type(_entry["task"])
    ABLATION_TABLES.setdefault(_task.paper_table or f"ablation_{_task.name}", []).append(_dataset)

MULTI_TEACHER = f"distilled-k{TEACHERS}"  # the published kind of the students taught by k teachers (k > 1)
TABLES = [
    "table1", "table2", "table3", "table4", *sorted(ABLATION_TABLES), "table8",
    "frontier", "budget", "paper_vs_run", *(["multi_teacher"] if TEACHERS > 1 else []),
]  # fmt: skip
FIGURES = ["figure1", "figure2"]
PAPER_FIGURES = sorted(str(path) for path in Path(workflow.basedir, "resources/paper").glob("table*.csv"))


def scores(kind, models, datasets=DATASETS):
    """Score files of published models."""
    return [published(kind, d, m) for d in datasets for m in models]


def speed_files():
    """The inference speed of every benchmarked model on every device."""
    return expand(out("bench/speed/{model}_{device}.json"), model=BENCH_MODELS, device=DEVICES)


def table_inputs(wildcards):
    """The named inputs of a table."""
    table = wildcards.table
    if table == "table1":
        return {"speed": speed_files()}
    if table == "table4":
        return {"teachers": expand(out("teachers/{dataset}.json"), dataset=DATASETS)}
    if table == "table8":
        return {"kd_cache": out("bench/kd_cache.json")}
    if table == "budget":
        return {"frontier": out("tables/frontier.csv")}
    if table == "multi_teacher":
        return {"distilled": scores("distilled", STUDENTS), "multi": scores(MULTI_TEACHER, STUDENTS)}
    datasets = ABLATION_TABLES.get(table, DATASETS)
    students = {"finetuned": scores("finetuned", STUDENTS, datasets), "distilled": scores("distilled", STUDENTS, datasets)}
    measured = {"macs": out("bench/macs.csv"), "speed": speed_files()}
    if table == "table2":
        return {**students, "finetuned": scores("finetuned", CANDIDATES)}
    if table == "table3":
        return {**students, "finetuned": scores("finetuned", CANDIDATES), "macs": out("bench/macs.csv")}
    if table == "frontier":
        return {**students, "finetuned": scores("finetuned", BENCH_MODELS), **measured}
    if table == "paper_vs_run":
        kd_cache = out("bench/kd_cache.json")
        return {**students, "finetuned": scores("finetuned", CANDIDATES), **measured, "kd_cache": kd_cache, "paper": PAPER_FIGURES}
    return students


def table_options(table):
    """The config values a table reads besides its inputs and layout."""
    options = {
        "frontier": {"reference": config["bench"]["reference"]},
        "budget": {"budgets_ms": config["bench"]["budgets_ms"]},
        "paper_vs_run": {"note": config["paper_vs_run_note"]},
        "multi_teacher": {"teachers": TEACHERS},
    }
    return options.get(table, {})


def figure_inputs(wildcards):
    """The named inputs of a figure: the MAC counts (Figure 1) or the frontier table (Figure 2)."""
    return {"macs": out("bench/macs.csv")} if wildcards.figure == "figure1" else {"frontier": out("tables/frontier.csv")}


def _metric_names(metrics):
    """What the cells of datasets with these metrics show: one name when they share it, else per dataset."""
    names = {dataset: METRIC_DESCRIPTION[metric] for dataset, metric in metrics.items()}
    if len(set(names.values())) == 1:
        return next(iter(names.values()))
    return "; ".join(f"{dataset}: {name}" for dataset, name in names.items())


def caption(name):
    """A table's or figure's caption: workflow/report/{name}.rst, or ablation.rst for the FT-against-KD tables, with
    the config values it names filled in."""
    datasets = ABLATION_TABLES.get(name, DATASETS)
    metrics = {dataset: config["datasets"][dataset]["metric"] for dataset in datasets}
    fields = {
        **config["bench"],
        "teachers": TEACHERS,
        "teacher_weights": config["distillation"]["teacher_weights"],
        "timing": config["distillation"]["timing"],
        "table": name.replace("table", "Table "),
        "task": task_type(config["datasets"][datasets[0]]["task"]).name,
        "datasets": ", ".join(datasets),
        "metrics": _metric_names(metrics),
        "main": " or ".join(dict.fromkeys(MAIN_METRIC[metric].replace("f1", "F1") for metric in metrics.values())),
    }
    file = "ablation" if name in ABLATION_TABLES else name
    return Path(workflow.basedir, f"workflow/report/{file}.rst").read_text().format_map(fields)


rule table:
    input:
        unpack(table_inputs),
    output:
        csv=out("tables/{table}.csv"),
        md=out("tables/{table}.md"),
        html=report(out("tables/{table}.html"), caption="../report/caption.rst", category="Tables"),
    params:
        datasets=lambda wildcards: ABLATION_TABLES.get(wildcards.table, DATASETS),
        candidates=CANDIDATES,
        students=STUDENTS,
        options=lambda wildcards: table_options(wildcards.table),
        caption=lambda wildcards: caption(wildcards.table),
    wildcard_constraints:
        table=_alternatives(TABLES),
    log:
        out("logs/tables/{table}.log"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../../scripts/make_table.py"


rule figure:
    input:
        unpack(figure_inputs),
    output:
        png=report(out("figures/{figure}.png"), caption="../report/caption.rst", category="Figures"),
        pdf=out("figures/{figure}.pdf"),
    params:
        caption=lambda wildcards: caption(wildcards.figure),
    wildcard_constraints:
        figure=_alternatives(FIGURES),
    log:
        out("logs/tables/{figure}.log"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../../scripts/make_figure.py"


rule environment:
    input:
        speed=speed_files(),
    output:
        csv=out("tables/environment.csv"),
        md=out("tables/environment.md"),
        html=report(out("tables/environment.html"), caption="../report/environment.rst", category="Environment"),
    log:
        out("logs/tables/environment.log"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../../scripts/make_environment_table.py"
