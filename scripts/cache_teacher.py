"""Run the selected teacher once over train and validation and store its outputs (rule cache_teacher)."""

import json

import torch

from speedy.cache import fingerprint, write_cache
from speedy.data import read_split
from speedy.logs import log_to
from speedy.models import load_task_model, load_tokenizer
from speedy.training import load_task, teacher_rows

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    config = snakemake.config
    teacher = json.loads(open(snakemake.input.teacher).read())
    task = load_task(config, snakemake.wildcards.dataset, snakemake.input.labels)
    tokenizer = load_tokenizer(teacher["path"])
    model = load_task_model(teacher["path"], task.model_task, task.labels)
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    for split in ("train", "validation"):
        examples = read_split(getattr(snakemake.input, split))
        print(f"teacher {teacher['model']}: {len(examples)} {split} examples", flush=True)
        rows = teacher_rows(model, task, tokenizer, examples, config["distillation"]["teacher_batch_size"])
        stamp = fingerprint(teacher["path"], getattr(snakemake.input, split), config["max_seq_length"], config["qa"]["doc_stride"])
        write_cache(getattr(snakemake.output, split), list(examples["id"]), rows, stamp)
