"""The embedded demo world: synthetic source data and tiny models, for the entries that point under results/demo/."""


def demo_data_files():
    """Every local split file under results/demo/, mapped to its (dataset, split, format)."""
    return {
        spec["path"]: (dataset, split, spec["format"])
        for dataset, entry in config["datasets"].items()
        for split, spec in entry["splits"].items()
        if spec.get("path", "").startswith("results/demo/")
    }


DEMO_DATA = demo_data_files()
DEMO_MODELS = [m for m, entry in config["models"].items() if entry["pretrained"].startswith("results/demo/")]


rule build_demo_data:
    output:
        list(DEMO_DATA),
    params:
        files=DEMO_DATA,
        seed=config["seed"],
    log:
        "logs/demo/build_demo_data.log",
    threads: 1
    resources:
        mem_mb=mem_mb(1000),
        runtime=10,
    conda:
        CONDA_ENV
    script:
        "../../scripts/build_demo_data.py"


rule build_demo_model:
    input:
        [path for path, (_, split, _) in DEMO_DATA.items() if split == "train"],
    output:
        directory("results/demo/models/{model}"),
    params:
        family=lambda wildcards: config["models"][wildcards.model]["family"],
        arch=lambda wildcards: config["models"][wildcards.model]["arch"],
        seed=config["seed"],
    log:
        "logs/demo/build_demo_model/{model}.log",
    wildcard_constraints:
        model=_alternatives(DEMO_MODELS) or "(?!)",
    threads: 1
    resources:
        mem_mb=mem_mb(2000),
        runtime=10,
    conda:
        CONDA_ENV
    script:
        "../../scripts/build_demo_model.py"
