"""A job's resources from its model's `arch` and its data: device and host memory, wall time, Snakemake requests.

Pure arithmetic on the config (no torch, no model building), so that a dry run can plan thousands of jobs.

Device memory = weights + gradients + optimizer state + activations at the micro-batch + a fixed framework
overhead. Activations follow Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer
Models", sec. 4.1): per layer s·b·h·(34 + 5·a·s/h) bytes in half precision with 1-byte dropout masks, written
here term by term so that fp32, an FFN width other than 4h, the activation function, dropout-free models
(ALBERT) and fused attention kernels (no s×s scores stored) each change only their own term.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GIB = 2**30
MIB = 2**20

PRECISION_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
DEVICES = ("cuda", "cpu")
ADAMW_STATE_BYTES = 8  # two fp32 moments per parameter
FP32_BYTES = 4

# Fixed device overhead of a CUDA job: the CUDA context and cuBLAS/cuDNN workspaces (0.3-0.8 GiB on
# Ampere/Hopper with lazy module loading). None of it shows in torch.cuda.max_memory_allocated.
CUDA_OVERHEAD_BYTES = 1 * GIB
# Host RSS of a job after `import speedy.training` (torch, transformers, datasets, pandas, pyarrow):
# 457 MiB measured on CPU torch 2.13 / transformers 5.23. A CUDA job adds the CUDA runtime and the host
# side of cuBLAS/cuDNN (about 1-2 GiB RSS once a context exists).
HOST_BASELINE_BYTES = 512 * MIB
CUDA_HOST_RUNTIME_BYTES = 2 * GIB
# Host bytes per token of the data a job holds: the featurized Arrow columns (input ids, attention mask,
# token type ids, labels) plus the raw examples and the tokenizer's batch buffers, rounded up.
DATA_BYTES_PER_TOKEN = 64
# Host bytes per teacher value read from the cache: read_cache turns the Parquet table into Python lists
# (a 24-byte float object and an 8-byte list slot per value) while the 4-byte Arrow column is alive.
TEACHER_BYTES_PER_VALUE = 36
# Seconds a job spends outside the training loop: imports, model load, tokenization, saving, metrics.
JOB_STARTUP_SECONDS = 180

HEADROOM = 1.2  # estimates are multiplied by this before they are compared with a capacity or requested
MIN_MEM_MB = 1000
MIN_RUNTIME_MINUTES = 5

# Peak dense throughput per GPU model (FLOP/s), from the vendors' datasheets: fp32 on CUDA cores (no TF32;
# PyTorch leaves TF32 matmuls off) and fp16/bf16 on tensor cores with fp32 accumulation.
PEAK_FLOPS: dict[str, dict[str, float]] = {
    "v100": {"fp32": 15.7e12, "fp16": 125e12},  # V100 SXM2; no bf16 tensor cores
    "rtx3090": {"fp32": 35.6e12, "fp16": 71e12, "bf16": 71e12},  # GeForce: half rate with fp32 accumulation
    "a100": {"fp32": 19.5e12, "fp16": 312e12, "bf16": 312e12},  # A100 SXM
    "l40s": {"fp32": 91.6e12, "fp16": 362e12, "bf16": 362e12},  # without sparsity
    "h100": {"fp32": 67e12, "fp16": 989e12, "bf16": 989e12},  # H100 SXM, without sparsity
    "h200": {"fp32": 67e12, "fp16": 989e12, "bf16": 989e12},  # the H100's compute with more memory
}
# Sustained fraction of that peak for eager PyTorch training through the HF Trainer, counting only the MACs
# of the MAC stage (linear layers; attention matmuls, softmax, norms and the optimizer are extra work):
# large fp32 GEMMs reach 80-90% of the CUDA-core peak, a whole step about half; BERT-size models in mixed
# precision sustain 30-45% model-FLOP utilisation on tensor cores without fused kernels. Assumptions, not
# measurements: the GPU benchmark's GEMM rate or the config's figure replaces them.
SUSTAINED_FRACTION = {"fp32": 0.5, "fp16": 0.35, "bf16": 0.35}
# A CPU node has no datasheet figure: assume 50 GFLOP/s sustained fp32 (a few AVX2 cores); bench's GEMM
# measurement on the node replaces it.
CPU_SUSTAINED_FLOPS = 5e10
# Fraction of a measured large-GEMM rate (bench.gemm_throughput) that a training or inference step sustains.
MEASURED_GEMM_FRACTION = 0.6

# Activation tensors the FFN keeps for the backward pass, in units of s·b·intermediate at the activation
# precision, including the activation's output that the second linear layer saves.
FFN_SAVED_TENSORS = {
    "gelu": 2,  # F.gelu saves its input; its output is the next linear's input
    "gelu_pytorch_tanh": 2,
    "relu": 1,  # relu saves its output, the same tensor the next linear saves
    "gelu_new": 5,  # transformers' NewGELU in Python: x, tanh(.), 0.5x, 1 + tanh(.), and the product
}
# NewGELU under CUDA autocast, whose pow runs in fp32: fp32 x, tanh(.) and 1 + tanh(.), 0.5x and the
# output in half precision; bytes per s·b·intermediate.
GELU_NEW_CUDA_AUTOCAST_BYTES = 4 + 4 + 4 + 2 + 2
# FFN tensors of width `intermediate` alive at once in a forward pass without autograd (measured on CPU).
FFN_LIVE_TENSORS = {"gelu": 2, "gelu_pytorch_tanh": 2, "relu": 2, "gelu_new": 4}  # NewGELU: x, 0.5x, 2 temporaries

# The transformers config defaults of the fields that `arch` may leave out, per family (a test checks them
# against transformers). distilbert names its fields dim / n_layers / n_heads / hidden_dim / activation.
BERT_DEFAULTS = {
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
}
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "bert": BERT_DEFAULTS,
    "roberta": {**BERT_DEFAULTS, "type_vocab_size": 1},  # speedy.models.arch_config's default for roberta
    "albert": {
        **BERT_DEFAULTS,
        "hidden_act": "gelu_new",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "embedding_size": 128,
    },
    "distilbert": {"max_position_embeddings": 512, "activation": "gelu", "dropout": 0.1, "attention_dropout": 0.1},
}
DISTILBERT_NAMES = {
    "hidden_size": "dim",
    "num_hidden_layers": "n_layers",
    "num_attention_heads": "n_heads",
    "intermediate_size": "hidden_dim",
    "hidden_act": "activation",
    "hidden_dropout_prob": "dropout",
    "attention_probs_dropout_prob": "attention_dropout",
}
REQUIRED_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")

Entry = Mapping[str, Any]


class EstimateError(ValueError):
    """A model entry or setting that the estimator cannot work with, with the remedy."""


# ------------------------------------------------------------------ architecture
@dataclass(frozen=True)
class Arch:
    """The sizes of a model entry that memory depends on, under the BERT field names."""

    family: str
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    embedding_size: int  # the embedding width; ALBERT projects it to hidden_size, the others equal hidden_size
    max_positions: int
    type_vocab_size: int
    hidden_act: str
    hidden_dropout: float
    attention_dropout: float

    @property
    def stored_layers(self) -> int:
        """Layers whose weights are stored: ALBERT shares one layer's weights across all its layers."""
        return 1 if self.family == "albert" else self.num_layers

    @classmethod
    def from_entry(cls, entry: Entry) -> Arch:
        """The arch of a config model entry ({family, arch}), with the family's transformers defaults."""
        family = entry.get("family")
        if family not in FAMILY_DEFAULTS:
            raise EstimateError(f"model entry has family {family!r}; the estimator knows {sorted(FAMILY_DEFAULTS)}")
        arch = {**FAMILY_DEFAULTS[family], **entry.get("arch", {})}
        names = DISTILBERT_NAMES if family == "distilbert" else {}

        def field(name: str) -> Any:
            key = names.get(name, name)
            if key not in arch:
                raise EstimateError(
                    f"the arch of a {family} model entry lacks {key!r}: copy it from the model's config.json "
                    "into its `arch` block in the config"
                )
            return arch[key]

        for name in REQUIRED_FIELDS:
            field(name)
        for grouping in ("num_hidden_groups", "inner_group_num"):
            if arch.get(grouping, 1) != 1:
                raise EstimateError(f"{grouping}={arch[grouping]} in an albert arch; the estimator assumes 1, as in ALBETO")
        hidden_act = field("hidden_act")
        if hidden_act not in FFN_SAVED_TENSORS:
            known = sorted(FFN_SAVED_TENSORS)
            raise EstimateError(f"activation {hidden_act!r} in a {family} arch; the estimator knows {known}")
        hidden = int(field("hidden_size"))
        return cls(
            family=family,
            vocab_size=int(field("vocab_size")),
            hidden_size=hidden,
            num_layers=int(field("num_hidden_layers")),
            num_heads=int(field("num_attention_heads")),
            intermediate_size=int(field("intermediate_size")),
            embedding_size=int(arch["embedding_size"]) if family == "albert" else hidden,
            max_positions=int(field("max_position_embeddings")),
            type_vocab_size=int(arch.get("type_vocab_size", 0)),
            hidden_act=hidden_act,
            hidden_dropout=float(field("hidden_dropout_prob")),
            attention_dropout=float(field("attention_probs_dropout_prob")),
        )


def parameter_count(arch: Arch, num_labels: int) -> int:
    """Parameters of the sequence-classification model (as bench builds it), each shared tensor once.

    Every family has embeddings, its stored layers, one h×h dense layer before the classifier (BERT and
    ALBERT's pooler, RoBERTa's head dense, DistilBERT's pre_classifier) and the h×labels classifier.
    """
    h, i, e = arch.hidden_size, arch.intermediate_size, arch.embedding_size
    embeddings = (arch.vocab_size + arch.max_positions + arch.type_vocab_size) * e + 2 * e
    if arch.family == "albert":
        embeddings += e * h + h  # embedding projection
    layer = 4 * (h * h + h) + (h * i + i) + (i * h + h) + 2 * 2 * h  # attention, FFN, two layer norms
    return embeddings + arch.stored_layers * layer + (h * h + h) + (h * num_labels + num_labels)


def macs_per_sequence(arch: Arch, seq_length: int, num_labels: int) -> int:
    """Linear-layer MACs of one sequence, as bench.count_macs counts them with THOP (no attention matmuls).

    Every token passes the embedding projection (ALBERT) and each layer's Q/K/V/O and FFN; the dense layer
    before the classifier and the classifier see one token per sequence. For planning before macs.csv exists.
    """
    h, i = arch.hidden_size, arch.intermediate_size
    per_token = arch.num_layers * (4 * h * h + 2 * h * i)
    if arch.family == "albert":
        per_token += arch.embedding_size * h
    return seq_length * per_token + h * h + h * num_labels


# ------------------------------------------------------------------ device memory
@dataclass(frozen=True)
class DeviceMemory:
    """Peak device memory of a job, in bytes, by component."""

    weights: int
    gradients: int
    optimizer: int
    activations: int
    overhead: int

    @property
    def total(self) -> int:
        """All components together."""
        return self.weights + self.gradients + self.optimizer + self.activations + self.overhead

    def describe(self) -> str:
        """One line for a job's log: each component and the total in GiB."""
        parts = ", ".join(f"{name} {getattr(self, name) / GIB:.2f}" for name in DeviceMemory.__dataclass_fields__)
        return f"device memory GiB: {parts}; total {self.total / GIB:.2f}"


def check_settings(precision: str, device: str) -> None:
    """Refuse an unknown precision or device, naming the choices."""
    if precision not in PRECISION_BYTES:
        raise EstimateError(f"precision {precision!r}; expected one of {sorted(PRECISION_BYTES)}")
    if device not in DEVICES:
        raise EstimateError(f"device {device!r}; expected one of {list(DEVICES)}")


def scores_stored(arch: Arch, device: str, training: bool, fused_attention: bool | None) -> bool:
    """Whether attention keeps its s×s score tensors (the 5·a·s/h term).

    `fused_attention` says it outright. By default: on CPU, PyTorch's SDPA (transformers' default
    attention) runs its flash kernel, which stores no scores, unless dropout is active on the attention
    probabilities, where it falls back to the math path (measured: BETO and ALBETO tiny, torch 2.13). On
    CUDA the estimate stays on the safe side and counts the scores (eager attention, as in Korthikanti),
    though SDPA's flash and memory-efficient kernels store none.
    """
    if fused_attention is not None:
        return not fused_attention
    if device == "cpu":
        return training and arch.attention_dropout > 0
    return True


def layer_activation_bytes(
    arch: Arch, seq_length: int, batch_size: int, precision: str, device: str, scores: bool, autocast: bool
) -> int:
    """Bytes one transformer layer keeps for the backward pass (Korthikanti et al. 2022, term by term).

    Per s·b·h at the activation precision: the QKV input, Q, K, V, the attention context and the FFN
    input (6), and the two layer-norm inputs (2, fp32 under autocast: the residual stream stays fp32).
    The FFN keeps FFN_SAVED_TENSORS s·b·i; each active hidden dropout keeps an s·b·h mask (1 byte on CUDA;
    on CPU dropout multiplies by a noise tensor of the input's precision). Stored scores keep the softmax
    output and, with attention dropout, its mask and output, a·s²·b each; fused kernels instead keep their
    output (s·b·h) and the fp32 log-sum-exp (a·s·b). Autocast (PyTorch's op lists) runs softmax and pow in
    fp32 on CUDA, and SDPA's math path computes half inputs in fp32 on CPU. With i = 4h, gelu, dropout,
    stored scores and no autocast, half precision on CUDA gives s·b·h·(34 + 5·a·s/h).
    """
    width = PRECISION_BYTES[precision]
    cuda = device == "cuda"
    mask = 1 if cuda else width
    norm = FP32_BYTES if autocast else width
    s, b, h, a, i = seq_length, batch_size, arch.hidden_size, arch.num_heads, arch.intermediate_size
    tokens = s * b
    ffn = FFN_SAVED_TENSORS[arch.hidden_act] * width
    if cuda and autocast and arch.hidden_act == "gelu_new":
        ffn = GELU_NEW_CUDA_AUTOCAST_BYTES
    total = tokens * h * (6 * width + 2 * norm) + tokens * i * ffn
    if arch.hidden_dropout > 0:
        total += 2 * tokens * h * mask
    if scores:
        probs = FP32_BYTES if autocast else width
        per_score = probs
        if arch.attention_dropout > 0:
            per_score += 1 + width if cuda else 2 * probs  # mask and the output the AV matmul keeps
        total += a * s * s * b * per_score
    else:
        total += tokens * h * width + a * s * b * FP32_BYTES
    return total


def training_activation_bytes(
    arch: Arch, seq_length: int, batch_size: int, precision: str, device: str, scores: bool, num_labels: int
) -> int:
    """Activations kept for the backward pass: the embeddings, every layer (shared or not) and the head.

    Embeddings keep the layer-norm input (s·b·e), ALBERT also its projection's input, and the dropout
    mask. The head is counted as a token head (the dropped-out final hidden states and their mask, the
    logits and their fp32 log-softmax), an upper bound for the sequence head.
    """
    width = PRECISION_BYTES[precision]
    autocast = precision != "fp32"
    mask = 1 if device == "cuda" else width
    tokens = seq_length * batch_size
    embedding = tokens * arch.embedding_size * width * (2 if arch.family == "albert" else 1)
    if arch.hidden_dropout > 0:
        embedding += tokens * arch.embedding_size * mask
    layer = layer_activation_bytes(arch, seq_length, batch_size, precision, device, scores, autocast)
    head = tokens * arch.hidden_size * (width + mask) + tokens * num_labels * (width + FP32_BYTES)
    return embedding + arch.num_layers * layer + head


def inference_activation_bytes(arch: Arch, seq_length: int, batch_size: int, precision: str, scores: bool) -> int:
    """The largest set of activations alive at once in a forward pass without autograd (one layer's worth).

    The layer's input and output (2 s·b·h) plus the larger of attention (Q, K, V and, when stored, the
    scores and softmax output, 2 a·s²·b) and the FFN (FFN_LIVE_TENSORS s·b·i).
    """
    width = PRECISION_BYTES[precision]
    s, b, h = seq_length, batch_size, arch.hidden_size
    attention = 3 * s * b * h + (2 * arch.num_heads * s * s * b if scores else 0)
    ffn = FFN_LIVE_TENSORS[arch.hidden_act] * s * b * arch.intermediate_size
    return width * (2 * s * b * h + max(attention, ffn) + s * b * arch.embedding_size)


def device_memory(
    entry: Entry,
    seq_length: int,
    batch_size: int,
    *,
    precision: str = "fp32",
    training: bool = True,
    num_labels: int = 2,
    device: str = "cuda",
    fused_attention: bool | None = None,
) -> DeviceMemory:
    """Peak device memory of training (AdamW) or inference at batch_size × seq_length tokens.

    Weights are fp32 (as the Trainer keeps them); in fp16/bf16 autocast also caches a half copy of each.
    Training adds fp32 gradients and AdamW's two fp32 moments (torch's fused AdamW allocates no more at the
    step), present during the forward and backward passes of every step after the first. On CPU the
    overhead is 0: host_memory counts the process.
    """
    check_settings(precision, device)
    arch = Arch.from_entry(entry)
    params = parameter_count(arch, num_labels)
    weights = params * (FP32_BYTES + (PRECISION_BYTES[precision] if precision != "fp32" else 0))
    scores = scores_stored(arch, device, training, fused_attention)
    if training:
        activations = training_activation_bytes(arch, seq_length, batch_size, precision, device, scores, num_labels)
    else:
        activations = inference_activation_bytes(arch, seq_length, batch_size, precision, scores)
    return DeviceMemory(
        weights=weights,
        gradients=params * FP32_BYTES if training else 0,
        optimizer=params * ADAMW_STATE_BYTES if training else 0,
        activations=activations,
        overhead=CUDA_OVERHEAD_BYTES if device == "cuda" else 0,
    )


def device_memory_bytes(entry: Entry, seq_length: int, batch_size: int, **settings: Any) -> int:
    """Total peak device memory in bytes (device_memory(...).total)."""
    return device_memory(entry, seq_length, batch_size, **settings).total


@dataclass(frozen=True)
class DeviceFit:
    """The largest micro-batch whose estimate fits a GPU, and the figures behind it."""

    batch: int  # any positive int; 0 when even one example does not fit
    capacity: int  # bytes of the GPU
    fixed: int  # bytes that do not depend on the batch (weights, gradients, optimizer, overhead), × headroom
    per_example: int  # activation bytes of one more example, × headroom

    def reason(self) -> str:
        """Why nothing fits (empty when something does)."""
        if self.batch:
            return ""
        if self.fixed >= self.capacity:
            return (
                f"weights, gradients, optimizer state and overhead need {self.fixed / GIB:.1f} GiB with headroom, "
                f"more than the GPU's {self.capacity / GIB:.1f} GiB"
            )
        return (
            f"one example's activations need {self.per_example / GIB:.1f} GiB with headroom, more than the "
            f"{(self.capacity - self.fixed) / GIB:.1f} GiB the GPU has left after {self.fixed / GIB:.1f} GiB of "
            "weights, gradients, optimizer state and overhead"
        )


def max_device_batch(
    entry: Entry,
    seq_length: int,
    gpu_memory_gb: float,
    precision: str = "fp32",
    headroom: float = HEADROOM,
    **settings: Any,
) -> DeviceFit:
    """The largest micro-batch b with device_memory(b).total × headroom <= gpu_memory_gb GiB.

    Activations grow linearly with b, so b comes in closed form from the estimate at b = 1.
    """
    one = device_memory(entry, seq_length, 1, precision=precision, **settings)
    capacity = int(gpu_memory_gb * GIB)
    fixed = math.ceil((one.total - one.activations) * headroom)
    per_example = math.ceil(one.activations * headroom)
    batch = max(0, (capacity - fixed) // per_example)
    return DeviceFit(batch=batch, capacity=capacity, fixed=fixed, per_example=per_example)


def micro_batch(batch_size: int, fit: int) -> int:
    """The largest divisor of batch_size that is at most `fit` (0 when fit < 1), so micro × steps = batch."""
    return max((d for d in range(1, batch_size + 1) if batch_size % d == 0 and d <= fit), default=0)


# ------------------------------------------------------------------ host memory
def host_memory_bytes(
    entry: Entry,
    seq_length: int,
    batch_size: int,
    *,
    examples: int,
    mean_length: float,
    teacher_values: float = 0.0,
    precision: str = "fp32",
    training: bool = True,
    num_labels: int = 2,
    device: str = "cuda",
) -> int:
    """Peak host RSS of a job: Python and libraries, the model on host, the data, the cached teacher outputs.

    from_pretrained holds the state dict beside the model (2 × fp32 weights) before a CUDA job moves it to
    the GPU; a CPU job then trains on host, so its device memory is host memory. `teacher_values`: values
    per example read from the teacher cache (labels for classification, tokens × labels for token tasks,
    2 × window tokens per QA window).
    """
    check_settings(precision, device)
    params = parameter_count(Arch.from_entry(entry), num_labels)
    baseline = HOST_BASELINE_BYTES + (CUDA_HOST_RUNTIME_BYTES if device == "cuda" else 0)
    data = examples * (mean_length * DATA_BYTES_PER_TOKEN + teacher_values * TEACHER_BYTES_PER_VALUE)
    model = 2 * params * FP32_BYTES
    if device == "cpu":  # the state dict's copy while loading, then the training itself
        model = params * FP32_BYTES + device_memory_bytes(
            entry, seq_length, batch_size, precision=precision, training=training, num_labels=num_labels, device=device
        )
    return math.ceil(baseline + data + model)


# ------------------------------------------------------------------ wall time
def sustained_flops(
    gpu: str, precision: str, configured: float | None = None, measured_gemm_flops: float | None = None
) -> float:
    """The FLOP/s a job sustains: a measured GEMM rate × MEASURED_GEMM_FRACTION, else the config's, else the table's.

    `measured_gemm_flops` must be measured at the job's precision (bench.gemm_throughput measures fp32).
    """
    if measured_gemm_flops:
        return measured_gemm_flops * MEASURED_GEMM_FRACTION
    if configured:
        return float(configured)
    if gpu == "cpu":
        return CPU_SUSTAINED_FLOPS
    if gpu not in PEAK_FLOPS:
        raise EstimateError(
            f"no default throughput for GPU {gpu!r} (known: {sorted(PEAK_FLOPS)} and cpu); "
            "set its sustained FLOP/s in the config"
        )
    if precision not in PEAK_FLOPS[gpu]:
        raise EstimateError(f"{gpu} has no {precision} tensor cores; use {' or '.join(sorted(PEAK_FLOPS[gpu]))}")
    return PEAK_FLOPS[gpu][precision] * SUSTAINED_FRACTION[precision]


def wall_time_seconds(
    macs_per_sequence: float,
    examples: float,
    mean_length: float,
    epochs: float,
    flops_per_second: float,
    *,
    training: bool = True,
    macs_seq_length: int = 512,
    startup_seconds: float = JOB_STARTUP_SECONDS,
) -> float:
    """Seconds of a pass over the data: MACs per token × tokens × (3 training, 1 inference) × 2 FLOPs ÷ rate.

    MACs per token = `macs_per_sequence` (macs.csv, counted at `macs_seq_length` tokens) / macs_seq_length;
    tokens = examples × mean_length × epochs. Attention matmuls and padding are left to the headroom.
    """
    macs_per_token = macs_per_sequence / macs_seq_length
    tokens = examples * mean_length * epochs
    passes = 3 if training else 1
    return startup_seconds + 2 * macs_per_token * tokens * passes / flops_per_second


# ------------------------------------------------------------------ a job's resources
@dataclass(frozen=True)
class Hardware:
    """Where jobs run: the GPU model (a PEAK_FLOPS key, or cpu), its memory, the precision and throughputs."""

    gpu: str = "a100"
    gpu_memory_gb: float = 40.0
    precision: str = "fp32"
    flops_per_second: float | None = None  # the config's sustained rate, replacing the table's
    measured_gemm_flops: float | None = None  # the GPU benchmark's GEMM rate, replacing both
    fused_attention: bool | None = None  # True once a GPU check shows SDPA storing no scores (see scores_stored)

    @property
    def device(self) -> str:
        """cpu for a CPU-only run, else cuda."""
        return "cpu" if self.gpu == "cpu" else "cuda"

    def flops(self) -> float:
        """The sustained FLOP/s of jobs on this hardware."""
        return sustained_flops(self.gpu, self.precision, self.flops_per_second, self.measured_gemm_flops)


@dataclass(frozen=True)
class Workload:
    """What one job does: its model, batch, data and passes."""

    entry: Entry  # the model's config entry ({family, arch, ...})
    training: bool  # AdamW training, else inference only (teacher cache, benchmark)
    batch_size: int  # the effective batch (training) or inference batch
    examples: int  # training examples (or QA windows) per epoch; the inference job's examples
    mean_length: float  # mean tokens per example, at most the sequence length
    epochs: float  # epochs (the maximum for early stopping); 1 for inference
    macs_per_sequence: float  # the model's MACs from macs.csv, counted at macs_seq_length tokens
    seq_length: int = 512  # the padded length the device must hold (max_seq_length)
    num_labels: int = 2
    teacher_values: float = 0.0  # cached teacher values per example (distillation)
    eval_examples: int = 0  # examples of each evaluation pass (validation each epoch, final metrics)
    eval_mean_length: float = 0.0
    eval_passes: int = 0
    macs_seq_length: int = 512


@dataclass(frozen=True)
class JobResources:
    """A job's micro-batch and estimates, and the Snakemake resources asked for them (headroom, retries)."""

    micro_batch: int  # 0 when even one example does not fit the GPU
    accumulation_steps: int
    device: DeviceMemory
    host_bytes: int
    seconds: float
    mem_mb: int
    runtime: int  # minutes
    gpu_mem_mb: int
    fit: DeviceFit | None  # None for a CPU job

    def describe(self) -> str:
        """One line for a job's log: micro-batch, device and host memory, time, and what is requested."""
        return (
            f"micro-batch {self.micro_batch} x {self.accumulation_steps} accumulation steps; {self.device.describe()}; "
            f"host {self.host_bytes / GIB:.2f} GiB; {self.seconds / 3600:.2f} h; "
            f"requested mem_mb={self.mem_mb} runtime={self.runtime} gpu_mem_mb={self.gpu_mem_mb}"
        )


def job_resources(work: Workload, hardware: Hardware, attempt: int = 1, headroom: float = HEADROOM) -> JobResources:
    """Micro-batch, memory and time of one job, and its Snakemake resources for retry `attempt` (1, 2, ...).

    Each retry multiplies mem_mb, runtime and gpu_mem_mb by `attempt` and halves the micro-batch
    (the effective batch stays: more accumulation steps), the remedy for running out of GPU memory.
    """
    settings = {
        "precision": hardware.precision,
        "training": work.training,
        "num_labels": work.num_labels,
        "device": hardware.device,
    }
    fit = None
    if hardware.device == "cuda":
        fit = max_device_batch(
            work.entry, work.seq_length, hardware.gpu_memory_gb, headroom=headroom,
            fused_attention=hardware.fused_attention, **settings,
        )  # fmt: skip
    first = micro_batch(work.batch_size, work.batch_size if fit is None else fit.batch)  # CPU: bounded by mem_mb
    micro = micro_batch(work.batch_size, max(1, first >> (attempt - 1)) if first else 0)
    memory = device_memory(work.entry, work.seq_length, max(micro, 1), fused_attention=hardware.fused_attention, **settings)
    host = host_memory_bytes(
        work.entry,
        work.seq_length,
        max(micro, 1),
        examples=work.examples,
        mean_length=work.mean_length,
        teacher_values=work.teacher_values,
        **settings,
    )
    rate = hardware.flops()
    seconds = wall_time_seconds(
        work.macs_per_sequence, work.examples, work.mean_length, work.epochs, rate,
        training=work.training, macs_seq_length=work.macs_seq_length,
    )  # fmt: skip
    if work.eval_passes:
        seconds += wall_time_seconds(
            work.macs_per_sequence, work.eval_examples, work.eval_mean_length, work.eval_passes, rate,
            training=False, macs_seq_length=work.macs_seq_length, startup_seconds=0,
        )  # fmt: skip
    grow = headroom * attempt
    return JobResources(
        micro_batch=micro,
        accumulation_steps=math.ceil(work.batch_size / micro) if micro else 0,
        device=memory,
        host_bytes=host,
        seconds=seconds,
        mem_mb=max(MIN_MEM_MB, math.ceil(host * grow / MIB)),
        runtime=max(MIN_RUNTIME_MINUTES, math.ceil(seconds * grow / 60)),
        gpu_mem_mb=0 if hardware.device == "cpu" else math.ceil(memory.total * grow / MIB),
        fit=fit,
    )


# ------------------------------------------------------------------ the plan of a whole config
def plan_summary(jobs: Sequence[dict[str, Any]], hardware: dict[str, Any]) -> str:
    """Markdown: job counts and GPU-hours per rule, the largest jobs, and the jobs that do not fit the GPU at all."""
    import pandas as pd

    table = pd.DataFrame(list(jobs))
    per_rule = table.groupby("rule", sort=False).agg(jobs=("rule", "size"), hours=("hours", "sum"))
    per_rule["share"] = (100 * per_rule["hours"] / per_rule["hours"].sum()).round(1).astype(str) + " %"
    per_rule["hours"] = per_rule["hours"].round(1)
    what = ", ".join(f"{key} {value}" for key, value in hardware.items())
    lines = [
        "# Resource plan",
        "",
        f"Hardware assumed (`hardware` in the config): {what}.",
        f"{len(table)} training and teacher-cache jobs, **{table['hours'].sum():,.0f} GPU-hours** in all "
        f"({table['hours'].sum() / 24:,.1f} GPU-days), estimated by speedy.resources (weights, gradients, optimizer "
        "state and activations at the micro-batch; MACs x tokens x 3 for training over the sustained throughput).",
        "",
        per_rule.reset_index().to_markdown(index=False),
        "",
        "## The largest jobs",
        "",
        table.nlargest(10, "hours")[["rule", "dataset", "model", "batch_size", "epochs", "micro_batch", "device_gib", "hours"]]
        .to_markdown(index=False),
        "",
        "## Jobs that do not fit the GPU, even at micro-batch 1",
        "",
    ]
    unfit = table[~table["fits"]]
    if unfit.empty:
        lines.append("None: every job fits the configured GPU.")
    else:
        for (model, why), group in unfit.groupby(["model", "why"], sort=False):
            lines.append(f"- {model}: {len(group)} job(s); {why}")
    assumed = sorted(set(table.loc[table["assumed_size"], "dataset"]))
    if assumed:
        lines += ["", f"Datasets without `stats` in the config (sizes assumed): {', '.join(assumed)}."]
    return "\n".join(lines) + "\n"
