# Benchmarks: parameters and MACs, GEMM throughput and inference speed (speedy.bench).
# Models are built from their `arch` with random weights, so no rule here needs the trained models.

BENCH = config["bench"]
SHAPE = canonical({key: BENCH[key] for key in ("batch_size", "seq_length", "num_labels")})
TIMING_RUNS = canonical({key: BENCH[key] for key in ("threads", "warmup_runs", "timed_runs", "outlier_threshold")})


def _gpus(wildcards):
    """One GPU for cuda jobs, none for cpu jobs."""
    return int(wildcards.device == "cuda")


rule count_macs:
    output:
        out("bench/macs.csv"),
    params:
        entries={m: entry_of(m) for m in BENCH_MODELS},
        reference=BENCH["reference"],
        reference_entry=entry_of(BENCH["reference"]),
        shape=SHAPE,
    log:
        out("logs/bench/count_macs.log"),
    benchmark:
        out("benchmarks/bench/count_macs.tsv")
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
        out("bench/gemm_{device}.json"),
    params:
        threads=BENCH["threads"],
        outlier_threshold=BENCH["outlier_threshold"],
    log:
        out("logs/bench/gemm_{device}.log"),
    benchmark:
        out("benchmarks/bench/gemm_{device}.tsv")
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
        macs=out("bench/macs.csv"),
        gemm=out("bench/gemm_{device}.json"),
    output:
        out("bench/speed/{model}_{device}.json"),
    params:
        entry=lambda wildcards: entry_of(wildcards.model),
        shape=SHAPE,
        timing=TIMING_RUNS,
    log:
        out("logs/bench/speed/{model}_{device}.log"),
    benchmark:
        out("benchmarks/bench/speed/{model}_{device}.tsv")
    threads: BENCH["threads"]
    resources:
        mem_mb=mem_mb(6000),
        runtime=lambda wildcards, attempt: 240 * attempt,
        gpu=_gpus,
    conda:
        CONDA_ENV
    script:
        "../../scripts/bench_speed.py"
