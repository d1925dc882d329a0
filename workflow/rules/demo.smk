# The embedded demo world: synthetic source data and tiny models, for the config entries under its results folder.


def demo_data_files():
    """Every local split file under this config's results folder, mapped to its (dataset, split, format)."""
    return {
        spec["path"]: (dataset, split, spec["format"])
        for dataset, entry in config["datasets"].items()
        for split, spec in entry["splits"].items()
        if spec.get("path", "").startswith(f"{RESULTS}/")
    }


DEMO_DATA = demo_data_files()
DEMO_MODELS = [m for m, entry in config["models"].items() if entry["pretrained"].startswith(f"{RESULTS}/")]
DEMO_CORPUS = {path: fmt for path, (_, split, fmt) in DEMO_DATA.items() if split == "train"}


rule build_demo_data:
    output:
        "{demo_file}",
    params:
        source=lambda wildcards: dict(zip(("dataset", "split", "format"), DEMO_DATA[wildcards.demo_file])),
        seed=config["seed"],
    log:
        out("logs/demo/build_demo_data/{demo_file}.log"),
    wildcard_constraints:
        demo_file=_alternatives(DEMO_DATA),
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
        list(DEMO_CORPUS),
    output:
        directory(out("world/models/{model}")),
    params:
        corpus=DEMO_CORPUS,
        family=lambda wildcards: config["models"][wildcards.model]["family"],
        arch=lambda wildcards: canonical(config["models"][wildcards.model]["arch"]),
        seed=config["seed"],
    log:
        out("logs/demo/build_demo_model/{model}.log"),
    wildcard_constraints:
        model=_alternatives(DEMO_MODELS),
    threads: 1
    resources:
        mem_mb=mem_mb(2000),
        runtime=10,
    conda:
        CONDA_ENV
    script:
        "../../scripts/build_demo_model.py"
