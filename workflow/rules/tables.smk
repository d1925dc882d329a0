# Tables 1-8 and Figure 1, regenerated from the workflow's results; each goes into the Snakemake report.

ABLATION_TABLES = {}  # the FT-against-KD table of each task type (the paper's Tables 5-7)
for _dataset, _entry in config["datasets"].items():
    _task = task_type(_entry["task"])
    ABLATION_TABLES.setdefault(_task.paper_table or f"ablation_{_task.name}", []).append(_dataset)


def scores(kind, models, datasets=DATASETS):
    """Score files of published models."""
    return [published(kind, d, m) for d in datasets for m in models]


def table_inputs(wildcards):
    """The named inputs of a table."""
    table = wildcards.table
    if table == "table1":
        return {"speed": expand(out("bench/speed/{model}_{device}.json"), model=BENCH_MODELS, device=DEVICES)}
    if table == "table4":
        return {"teachers": expand(out("teachers/{dataset}.json"), dataset=DATASETS)}
    if table == "table8":
        return {"kd_cache": out("bench/kd_cache.json")}
    datasets = ABLATION_TABLES.get(table, DATASETS)
    students = {"finetuned": scores("finetuned", STUDENTS, datasets), "distilled": scores("distilled", STUDENTS, datasets)}
    if table == "table2":
        return {**students, "finetuned": scores("finetuned", CANDIDATES)}
    if table == "table3":
        return {**students, "finetuned": scores("finetuned", CANDIDATES), "macs": out("bench/macs.csv")}
    return students


def caption(table):
    """A table's caption: workflow/report/{table}.rst, or ablation.rst for the FT-against-KD tables."""
    if table in ABLATION_TABLES:
        text = Path(workflow.basedir, "workflow/report/ablation.rst").read_text()
        return text.replace("TABLE", table.capitalize()).replace("DATASETS", ", ".join(ABLATION_TABLES[table]))
    return Path(workflow.basedir, f"workflow/report/{table}.rst").read_text()


rule table:
    input:
        unpack(table_inputs),
    output:
        csv=out("tables/{table}.csv"),
        md=report(out("tables/{table}.md"), caption="../report/table.rst", category="Tables"),
    params:
        datasets=lambda wildcards: ABLATION_TABLES.get(wildcards.table, DATASETS),
        candidates=CANDIDATES,
        students=STUDENTS,
        caption=lambda wildcards: caption(wildcards.table),
    wildcard_constraints:
        table=_alternatives(["table1", "table2", "table3", "table4", "table8", *ABLATION_TABLES]),
    log:
        out("logs/tables/{table}.log"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../../scripts/make_table.py"


rule figure1:
    input:
        macs=out("bench/macs.csv"),
    output:
        png=report(out("figures/figure1.png"), caption="../report/figure1.rst", category="Figures"),
        pdf=out("figures/figure1.pdf"),
    log:
        out("logs/tables/figure1.log"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../../scripts/make_figure.py"
