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
DEMO_MODELS = built_models(config)
DEMO_DATASETS = canonical({dataset: fmt for dataset, _, fmt in DEMO_DATA.values()})


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


rule build_demo_corpus:
    output:
        out("world/corpus.txt"),
    params:
        datasets=DEMO_DATASETS,
        size=config.get("world", {}).get("corpus_size"),
        seed=config["seed"],
    log:
        out("logs/demo/build_demo_corpus.log"),
    threads: 1
    resources:
        mem_mb=mem_mb(1000),
        runtime=10,
    conda:
        CONDA_ENV
    script:
        "../../scripts/build_demo_corpus.py"


rule build_demo_model:
    input:
        corpus=rules.build_demo_corpus.output[0],
    output:
        directory(out("world/models/{model}")),
    params:
        family=lambda wildcards: config["models"][wildcards.model]["family"],
        arch=lambda wildcards: canonical(config["models"][wildcards.model]["arch"]),
        pretraining=canonical(config.get("world", {}).get("pretraining")),
        seed=config["seed"],
    log:
        out("logs/demo/build_demo_model/{model}.log"),
    benchmark:
        out("benchmarks/demo/build_demo_model/{model}.tsv")
    wildcard_constraints:
        model=_alternatives(DEMO_MODELS),
    threads: 1
    resources:
        mem_mb=mem_mb(2000),
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../../scripts/build_demo_model.py"
