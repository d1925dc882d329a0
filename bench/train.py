"""Training throughput on real sentence lengths: length-grouped against random batches (`make bench-train`).

One fine-tune and one cached distillation, each for one epoch with random batches and one with length-grouped
batches of 32, over the 1,654 sentences of the UD AnCora dev split (tests/fixtures/tokenizers/ancora-dev.txt),
tokenized with BETO's real cased vocabulary. The model has the shape of ALBETO tiny's layers (4 layers, hidden 312,
12 heads, FFN 1248) as a BERT, with random weights, so nothing is downloaded. Prints, for each: padded tokens per
real token, real tokens per second (of wall-clock time, and of the process's CPU time, which other jobs on a shared
machine disturb less), and the speedup of grouping. One torch thread by default: on busy shared cores, threads that
wait for each other time the scheduler rather than the padding.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import datasets
import torch
import transformers
from transformers import BertConfig, BertForSequenceClassification
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from speedy.kd import CachedTeacher, KDSettings
from speedy.models import load_task_model, load_tokenizer
from speedy.tasks import TaskSettings, make_task
from speedy.training import GridJob, Schedule, Split, TrainSettings, make_trainer, teacher_rows

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "tokenizers"
SHAPE = {"hidden_size": 312, "num_hidden_layers": 4, "num_attention_heads": 12, "intermediate_size": 1248}
LABELS = ["short", "medium", "long"]


def model_folder(root: Path) -> str:
    """A BERT of ALBETO tiny's layer shape with BETO's cased vocabulary and random weights."""
    folder = root / "model"
    vocab = FIXTURES / "beto-cased" / "vocab.txt"
    config = BertConfig(vocab_size=sum(1 for _ in vocab.open(encoding="utf-8")), max_position_embeddings=512, num_labels=len(LABELS), **SHAPE)
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(FIXTURES / "beto-cased" / name, folder / name)
    return str(folder)


def sentences() -> datasets.Dataset:
    """The AnCora dev sentences as a classification split (the label, a length class, only gives the loss a target)."""
    texts = (FIXTURES / "ancora-dev.txt").read_text(encoding="utf-8").splitlines()
    labels = [min(len(text.split()) // 20, 2) for text in texts]
    return datasets.Dataset.from_dict({"id": [f"s{i}" for i in range(len(texts))], "text": texts, "label": labels})


class Counting:
    """A data collator that counts the tokens its batches compute (padded) and hold (real)."""

    def __init__(self, collate):
        self.collate, self.padded, self.real = collate, 0, 0

    def __call__(self, items):
        batch = self.collate(items)
        self.padded += batch["attention_mask"].numel()
        self.real += int(batch["attention_mask"].sum())
        return batch


def train_once(job: GridJob, tokenizer, source: str, train: Split, scratch: str) -> dict[str, float]:
    """Wall-clock and CPU seconds, padded and real tokens of one epoch of `job`."""
    model = load_task_model(source, job.task.auto_model, job.task.labels)
    trainer = make_trainer(job, tokenizer, model, train, None, scratch)
    trainer.data_collator = counter = Counting(trainer.data_collator)
    for quiet in (ProgressCallback, PrinterCallback):
        trainer.remove_callback(quiet)
    wall, cpu = time.perf_counter(), time.process_time()
    trainer.train()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "seconds": wall, "cpu_seconds": cpu, "padded_tokens": counter.padded, "real_tokens": counter.real,
        "padding_ratio": counter.padded / counter.real, "real_tokens_per_s": counter.real / wall,
        "real_tokens_per_cpu_s": counter.real / cpu,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    task = make_task("classification", TaskSettings(max_seq_length=512), LABELS)
    examples = sentences()
    results = {}
    with tempfile.TemporaryDirectory(prefix="speedy-bench-train-") as scratch:
        source = model_folder(Path(scratch))
        tokenizer = load_tokenizer(source)
        train = Split(examples, task.featurize(examples, tokenizer))
        rows = teacher_rows(load_task_model(source, task.auto_model, LABELS), task, tokenizer, examples, 64)
        cache = CachedTeacher(dict(zip(examples["id"], rows)))
        warm_up = Split(examples, task.featurize(examples.select(range(4 * args.batch_size)), tokenizer))
        for kind, teacher in (("fine-tune", None), ("cached distillation", cache)):
            for grouped in (False, True):
                settings = TrainSettings(seed=42, weight_decay=0.01, warmup_ratio=0.1, eval_batch_size=64,
                                         logging_steps=1000, group_by_length=grouped, precision="fp32")  # fmt: skip
                job = GridJob("ancora-dev", "bench", source, task, settings, Schedule(args.batch_size, 5e-5, 1, evaluate_each_epoch=False),
                              {}, teacher=teacher, kd=KDSettings() if teacher else None)  # fmt: skip
                if not results:
                    train_once(job, tokenizer, source, warm_up, scratch)  # first-call costs out of the timings
                results[f"{kind}, {'grouped' if grouped else 'random'}"] = train_once(job, tokenizer, source, train, scratch)
    print(f"{len(examples)} AnCora dev sentences, BETO cased vocabulary, batch {args.batch_size}, 1 epoch per run, "
          f"{torch.get_num_threads()} torch thread(s)")  # fmt: skip
    for kind in ("fine-tune", "cached distillation"):
        plain, grouped = results[f"{kind}, random"], results[f"{kind}, grouped"]
        print(f"{kind}:")
        for name, r in (("random", plain), ("grouped", grouped)):
            print(f"  {name:8} padded/real tokens = {r['padding_ratio']:.3f}   real tokens/s = {r['real_tokens_per_s']:6.0f} "
                  f"({r['seconds']:.1f} s), per CPU-second = {r['real_tokens_per_cpu_s']:6.0f} ({r['cpu_seconds']:.1f} s)")  # fmt: skip
        wall, cpu = (grouped[key] / plain[key] for key in ("real_tokens_per_s", "real_tokens_per_cpu_s"))
        print(f"  speedup of grouping = {wall:.2f}x, per CPU-second {cpu:.2f}x   (targets: grouped padding <= 1.10, speedup >= 1.5)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
