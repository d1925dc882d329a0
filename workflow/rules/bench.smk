# Benchmarks: parameters and MACs, GEMM throughput, inference speed, optimized students (speedy.bench).
# Models are built from their `arch` with random weights, so no rule here needs the trained models.
from speedy.config import model_entry

BENCH = config["bench"]


def _bench_entry(wildcards):
    """The config entry (family and arch) of the benchmarked model."""
    return model_entry(config, wildcards.model)


def _gpus(wildcards):
    """One GPU for cuda jobs, none for cpu jobs."""
    return int(wildcards.device == "cuda")


rule count_macs:
    output:
        "results/bench/macs.csv",
    params:
        entries={m: model_entry(config, m) for m in BENCH_MODELS},
        reference=model_entry(config, BENCH["reference"]),
        bench=BENCH,
    log:
        "logs/bench/count_macs.log",
    benchmark:
        "benchmarks/bench/count_macs.tsv"
    threads: 1
    resources:
        mem_mb=mem_mb(6000),
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../../scripts/count_macs.py"


rule bench_gemm:
    output:
        "results/bench/gemm_{device}.json",
    params:
        bench=BENCH,
    log:
        "logs/bench/gemm_{device}.log",
    benchmark:
        "benchmarks/bench/gemm_{device}.tsv"
    threads: BENCH["threads"]
    resources:
        mem_mb=mem_mb(2000),
        runtime=10,
        gpu=_gpus,
    conda:
        CONDA_ENV
    script:
        "../../scripts/bench_gemm.py"


rule bench_speed:
    input:
        macs="results/bench/macs.csv",
        gemm="results/bench/gemm_{device}.json",
    output:
        "results/bench/speed/{model}_{device}.json",
    params:
        entry=_bench_entry,
        bench=BENCH,
    log:
        "logs/bench/speed/{model}_{device}.log",
    benchmark:
        "benchmarks/bench/speed/{model}_{device}.tsv"
    threads: BENCH["threads"]
    resources:
        mem_mb=mem_mb(6000),
        runtime=lambda wildcards, attempt: 240 * attempt,
        gpu=_gpus,
    conda:
        CONDA_ENV
    script:
        "../../scripts/bench_speed.py"


rule bench_optimized:
    output:
        "results/bench/optimized/{model}.json",
    params:
        entry=_bench_entry,
        bench=BENCH,
    log:
        "logs/bench/optimized/{model}.log",
    benchmark:
        "benchmarks/bench/optimized/{model}.tsv"
    wildcard_constraints:
        model=_alternatives(STUDENTS),
    threads: BENCH["threads"]
    resources:
        mem_mb=mem_mb(4000),
        runtime=lambda wildcards, attempt: 120 * attempt,
    conda:
        CONDA_ENV
    script:
        "../../scripts/bench_optimized.py"
