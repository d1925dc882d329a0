"""Loading models and tokenizers (hub id or local folder), architectures from config, and student cutting."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import transformers
from transformers import (
    AlbertConfig,
    AutoConfig,
    AutoTokenizer,
    BertConfig,
    DistilBertConfig,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    RobertaConfig,
)

log = logging.getLogger(__name__)

FAMILY_CONFIGS: dict[str, type[PretrainedConfig]] = {
    "bert": BertConfig,
    "distilbert": DistilBertConfig,
    "albert": AlbertConfig,
    "roberta": RobertaConfig,
}


class ModelLoadError(RuntimeError):
    """A model or tokenizer that cannot be loaded, with a hint on how to point at local files."""


def arch_config(family: str, arch: dict[str, Any], **extra: Any) -> PretrainedConfig:
    """A transformers config for `family` built from the `arch` block of a model entry."""
    if family not in FAMILY_CONFIGS:
        raise ValueError(f"unknown model family {family!r}; expected one of {sorted(FAMILY_CONFIGS)}")
    fields = dict(arch)
    if family == "roberta":
        fields.setdefault("pad_token_id", 1)
        fields.setdefault("bos_token_id", 0)
        fields.setdefault("eos_token_id", 2)
        fields.setdefault("type_vocab_size", 1)
    return FAMILY_CONFIGS[family](**fields, **extra)


def _hint(path: str) -> str:
    return (
        f"could not load {path!r}: it is neither a local folder nor reachable on the Hugging Face Hub. "
        f"Download it where you have network (huggingface-cli download {path} --local-dir DIR) "
        f"and set the model's `pretrained:` to DIR in the config."
    )


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """The fast tokenizer of a hub id or local folder (byte-level BPE gets a prefix space for pre-split words)."""
    try:
        config = AutoConfig.from_pretrained(str(path))
        kwargs = {"add_prefix_space": True} if config.model_type == "roberta" else {}
        tokenizer = AutoTokenizer.from_pretrained(str(path), **kwargs)
    except OSError as error:
        raise ModelLoadError(_hint(str(path))) from error
    if not tokenizer.is_fast:
        raise ModelLoadError(f"{path}: a fast tokenizer is needed (word_ids and offset_mapping)")
    return tokenizer


def load_task_model(path: str | Path, auto_model: str, labels: list[str] | None = None) -> PreTrainedModel:
    """A task model (`auto_model`: a transformers AutoModelFor... class name) from a hub id or local folder, with label names set."""
    kwargs: dict[str, Any] = {}
    if labels:
        kwargs = {
            "num_labels": len(labels),
            "id2label": dict(enumerate(labels)),
            "label2id": {label: i for i, label in enumerate(labels)},
        }
    try:
        return getattr(transformers, auto_model).from_pretrained(str(path), **kwargs)
    except OSError as error:
        raise ModelLoadError(_hint(str(path))) from error


def cut_albert(base: str | Path, num_layers: int, out_dir: str | Path) -> Path:
    """Save ALBERT `base` with only `num_layers` layers; the shared layer weights are kept as they are."""
    from transformers import AutoModelForMaskedLM

    config = AutoConfig.from_pretrained(str(base))
    if config.model_type != "albert":
        raise ValueError(f"{base}: students are cut from an ALBERT model, not {config.model_type!r}")
    if num_layers > config.num_hidden_layers:
        raise ValueError(f"{base} has {config.num_hidden_layers} layers; cannot keep {num_layers}")
    model = AutoModelForMaskedLM.from_pretrained(str(base), num_hidden_layers=num_layers)
    out = Path(out_dir)
    model.save_pretrained(out)
    load_tokenizer(base).save_pretrained(out)
    return out

