# Tables 1-8 and Figure 1, regenerated from the workflow's results.

ABLATION_TABLES = {table: task for task, table in TASK_TYPES.items()}


def scores(kind, models, datasets=DATASETS):
    """Score files of published models."""
    return [published(kind, d, m) for d in datasets for m in models]


def datasets_of(task):
    """The datasets of one task type."""
    return [d for d in DATASETS if config["datasets"][d]["task"] == task]


def table_outputs(name, caption=None):
    """The CSV and Markdown files of a table; the Markdown goes into the Snakemake report."""
    md = report(f"results/tables/{name}.md", caption=f"../report/{caption or name}.rst", category="Tables")
    return {"csv": f"results/tables/{name}.csv", "md": md}


rule table2:
    input:
        finetuned=scores("finetuned", CANDIDATES),
        distilled=scores("distilled", STUDENTS),
    output:
        **table_outputs("table2"),
    params:
        table="table2",
    log:
        "logs/tables/table2.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../../scripts/make_table.py"


rule table4:
    input:
        teachers=expand("results/teachers/{dataset}.json", dataset=DATASETS),
    output:
        **table_outputs("table4"),
    params:
        table="table4",
    log:
        "logs/tables/table4.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../../scripts/make_table.py"


rule ablation_table:
    input:
        finetuned=lambda wildcards: scores("finetuned", STUDENTS, datasets_of(ABLATION_TABLES[wildcards.table])),
        distilled=lambda wildcards: scores("distilled", STUDENTS, datasets_of(ABLATION_TABLES[wildcards.table])),
    output:
        **table_outputs("{table}", caption="ablation"),
    params:
        table=lambda wildcards: wildcards.table,
        task=lambda wildcards: ABLATION_TABLES[wildcards.table],
    wildcard_constraints:
        table="table5|table6|table7",
    log:
        "logs/tables/{table}.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../../scripts/make_table.py"


rule table8:
    input:
        kd_cache="results/bench/kd_cache.json",
    output:
        **table_outputs("table8"),
    params:
        table="table8",
    log:
        "logs/tables/table8.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../../scripts/make_table.py"


rule table1:
    input:
        speed=expand("results/bench/speed/{model}_{device}.json", model=BENCH_MODELS, device=DEVICES),
    output:
        **table_outputs("table1"),
    params:
        table="table1",
    log:
        "logs/tables/table1.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../../scripts/make_table.py"


rule table3:
    input:
        macs="results/bench/macs.csv",
        finetuned=scores("finetuned", CANDIDATES),
        distilled=scores("distilled", STUDENTS),
    output:
        **table_outputs("table3"),
    params:
        table="table3",
    log:
        "logs/tables/table3.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../../scripts/make_table.py"


rule figure1:
    input:
        macs="results/bench/macs.csv",
    output:
        png=report("results/figures/figure1.png", caption="../report/figure1.rst", category="Figures"),
        pdf="results/figures/figure1.pdf",
    params:
        table="figure1",
    log:
        "logs/tables/figure1.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../../scripts/make_table.py"
