"""The demo world's models: small models of every family of the roster, with tokenizers trained on the demo corpus
and masked-LM pre-training on it, as the real checkpoints were pre-trained on unlabelled Spanish text."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

SPECIAL_TOKENS = {  # in id order; pad is 0 except for RoBERTa (1), as in the real checkpoints
    "bert": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
    "distilbert": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
    "albert": ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"],
    "roberta": ["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
}
UNCASED = {"distilbert"}  # distilbeto is uncased; beto-cased, ALBETO and the RoBERTa models are cased


@dataclass(frozen=True)
class Pretraining:
    """Masked-LM pre-training of a demo model on the demo corpus (steps 0: the model stays random)."""

    steps: int
    batch_size: int
    learning_rate: float
    seq_length: int
    mask_probability: float = 0.15


def train_tokenizer(family: str, texts: list[str], vocab_size: int, model_max_length: int) -> PreTrainedTokenizerBase:
    """A fast tokenizer of the family's kind trained on `texts` (WordPiece, byte-level BPE or Unigram)."""
    from tokenizers import pre_tokenizers, trainers
    from transformers import AlbertTokenizer, BertTokenizer, DistilBertTokenizer, RobertaTokenizer

    specials = SPECIAL_TOKENS[family]
    lowercase = family in UNCASED
    alphabet = sorted(set("".join(texts).lower() if lowercase else "".join(texts)) - {" "})
    common = {"vocab_size": vocab_size, "special_tokens": specials, "show_progress": False}
    if family in ("bert", "distilbert"):
        kind = BertTokenizer if family == "bert" else DistilBertTokenizer
        options = {"do_lower_case": lowercase, "strip_accents": False, "model_max_length": model_max_length}
        backend = kind(**options).backend_tokenizer
        backend.train_from_iterator(texts, trainers.WordPieceTrainer(initial_alphabet=alphabet, **common))
        return kind(vocab=backend.get_vocab(), **options)
    if family == "roberta":
        backend = RobertaTokenizer(add_prefix_space=True).backend_tokenizer  # learn words with their leading space
        alphabet = pre_tokenizers.ByteLevel.alphabet()
        backend.train_from_iterator(texts, trainers.BpeTrainer(initial_alphabet=alphabet, **common))
        model = json.loads(backend.to_str())["model"]
        merges = [tuple(merge) for merge in model["merges"]]
        return RobertaTokenizer(vocab=model["vocab"], merges=merges, model_max_length=model_max_length)
    if family == "albert":
        options = {"do_lower_case": lowercase, "keep_accents": True, "model_max_length": model_max_length}
        backend = AlbertTokenizer(**options).backend_tokenizer
        unigram = trainers.UnigramTrainer(unk_token="<unk>", initial_alphabet=alphabet, **common)
        backend.train_from_iterator(texts, unigram)
        vocab = [tuple(piece) for piece in json.loads(backend.to_str())["model"]["vocab"]]
        return AlbertTokenizer(vocab=vocab, **options)
    raise ValueError(f"unknown model family {family!r}; expected one of {sorted(SPECIAL_TOKENS)}")


def pretrain(model, tokenizer: PreTrainedTokenizerBase, texts: list[str], settings: Pretraining, seed: int, work_dir: Path) -> dict[str, float]:
    """Masked-LM training of `model` on `texts` with HF Trainer; the first and last logged training losses."""
    import datasets
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments

    lines = datasets.Dataset.from_dict({"text": texts})
    encoded = lines.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=settings.seq_length), batched=True, remove_columns=["text"])
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=settings.mask_probability, seed=seed)
    arguments = TrainingArguments(
        output_dir=str(work_dir), max_steps=settings.steps, per_device_train_batch_size=settings.batch_size,
        learning_rate=settings.learning_rate, warmup_steps=0.05, weight_decay=0.01, seed=seed, data_seed=seed,
        logging_steps=max(1, settings.steps // 10), save_strategy="no", report_to=[], disable_tqdm=True, use_cpu=True,
    )  # fmt: skip
    trainer = Trainer(model=model, args=arguments, train_dataset=encoded, data_collator=collator)
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return {"first_loss": losses[0], "last_loss": losses[-1]} if losses else {}


def build_demo_model(
    family: str, arch: dict[str, Any], corpus: str | Path, pretraining: Pretraining, out_dir: str | Path, seed: int
) -> dict[str, float]:  # fmt: skip
    """Save a masked-LM of `arch`, pre-trained on the corpus file (one text per line), with a tokenizer trained on it."""
    import torch
    from transformers import AutoModelForMaskedLM

    from speedy.models import arch_config

    texts = Path(corpus).read_text(encoding="utf-8").splitlines()
    positions = arch["max_position_embeddings"] - (2 if family == "roberta" else 0)
    tokenizer = train_tokenizer(family, texts, arch["vocab_size"], positions)
    if len(tokenizer) > arch["vocab_size"]:
        raise ValueError(f"the {family} tokenizer has {len(tokenizer)} tokens, above vocab_size {arch['vocab_size']}")
    torch.manual_seed(seed)
    model = AutoModelForMaskedLM.from_config(arch_config(family, arch))
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        losses = pretrain(model, tokenizer, texts, pretraining, seed, staging / "trainer") if pretraining.steps else {}
        shutil.rmtree(staging / "trainer", ignore_errors=True)
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return losses
