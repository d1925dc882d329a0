"""The demo world's models: tiny models of every family of the roster, with tokenizers trained on the demo corpus."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from speedy.data import read_local

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

SPECIAL_TOKENS = {  # in id order; pad is 0 except for RoBERTa (1), as in the real checkpoints
    "bert": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
    "distilbert": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
    "albert": ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"],
    "roberta": ["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
}
UNCASED = {"distilbert"}  # distilbeto is uncased; beto-cased, ALBETO and the RoBERTa models are cased


def corpus_texts(files: Mapping[str, str]) -> Iterator[str]:
    """The Spanish text of source files (path -> format): sentences, pairs, questions, contexts and joined words."""
    for file, fmt in files.items():
        for record in read_local(file, fmt):
            yield from (record[field] for field in ("text", "text_pair", "question", "context") if field in record)
            if "words" in record and "context" not in record:
                yield " ".join(record["words"])


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


def build_demo_model(family: str, arch: dict[str, Any], corpus: Mapping[str, str], out_dir: str | Path, seed: int) -> None:
    """Save a randomly initialised masked-LM of `arch` with a tokenizer trained on the demo corpus."""
    import torch
    from transformers import AutoModelForMaskedLM

    from speedy.models import arch_config

    positions = arch["max_position_embeddings"] - (2 if family == "roberta" else 0)
    tokenizer = train_tokenizer(family, list(corpus_texts(corpus)), arch["vocab_size"], positions)
    if len(tokenizer) > arch["vocab_size"]:
        raise ValueError(f"the {family} tokenizer has {len(tokenizer)} tokens, above vocab_size {arch['vocab_size']}")
    torch.manual_seed(seed)
    model = AutoModelForMaskedLM.from_config(arch_config(family, arch))
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
