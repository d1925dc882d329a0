"""Loading models and tokenizers (hub id or local folder), architectures from config, and student cutting.

Tokenizers give exactly the ids of their family's reference implementation:
- a `tokenizer.json` is used verbatim (the reference is `tokenizers.Tokenizer.from_file`), whatever its model;
- otherwise the family's transformers class reads the vocabulary files: `vocab.txt` (BERT, DistilBERT, with
  `do_lower_case` and `strip_accents` from tokenizer_config.json), `vocab.json` + `merges.txt` (RoBERTa),
  `spiece.model` (ALBERT). transformers builds every `spiece.model` as Unigram, so a SentencePiece BPE model
  gets its BPE merges back here; other SentencePiece models that cannot be read faithfully are refused.
A tokenizer built here saves a folder that `AutoTokenizer.from_pretrained` reloads to the same ids.

Weights are read from safetensors wherever a folder has them; a folder with only a `.bin` checkpoint is read with
`torch.load(weights_only=True)`, which loads tensors and refuses any pickled code.
"""

from __future__ import annotations

import inspect
import json
import logging
import pickle
from pathlib import Path
from typing import Any

from sentencepiece import sentencepiece_model_pb2
from tokenizers import Tokenizer
from tokenizers.models import BPE
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
    PreTrainedTokenizerFast,
    RobertaConfig,
)
from transformers.convert_slow_tokenizer import SentencePieceExtractor
from transformers.models.auto.tokenization_auto import TOKENIZER_MAPPING_NAMES, tokenizer_class_from_name
from transformers.utils import cached_file, has_file

log = logging.getLogger(__name__)

FAMILY_CONFIGS: dict[str, type[PretrainedConfig]] = {
    "bert": BertConfig,
    "distilbert": DistilBertConfig,
    "albert": AlbertConfig,
    "roberta": RobertaConfig,
}


# The inputs each family's forward pass takes. transformers 5 drops ALBERT's segment ids for pairs (its tokenizer
# class lists no token_type_ids) and gives DistilBERT folders a BERT tokenizer that returns them.
MODEL_INPUTS = {
    "bert": ["input_ids", "token_type_ids", "attention_mask"],
    "albert": ["input_ids", "token_type_ids", "attention_mask"],
    "distilbert": ["input_ids", "attention_mask"],
    "roberta": ["input_ids", "attention_mask"],
}
# The files each family's tokenizer class reads when a folder has no tokenizer.json.
VOCABULARY_FILES = {
    "bert": ("vocab.txt",),
    "distilbert": ("vocab.txt",),
    "albert": ("spiece.model",),
    "roberta": ("vocab.json", "merges.txt"),
}
SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
PICKLED_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")


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


def _load_error(path: str, what: str, error: Exception) -> ModelLoadError:
    """The ModelLoadError for any failure to load `what` from `path`."""
    if isinstance(error, ModelLoadError):
        return error
    if isinstance(error, OSError) and not Path(path).is_dir():
        return ModelLoadError(_hint(path))
    if isinstance(error, pickle.UnpicklingError):
        return ModelLoadError(
            f"{path}: its .bin checkpoint holds more than tensors, and pickled code is never run here "
            f"({error}). If you trust the file, convert it to safetensors elsewhere (load it, then "
            f"save_pretrained) and point `pretrained:` at the converted folder."
        )
    return ModelLoadError(f"{path}: cannot load the {what}: {type(error).__name__}: {error}")


def load_tokenizer(path: str | Path, split_words: bool = False) -> PreTrainedTokenizerBase:
    """The fast tokenizer of a hub id or local folder, giving its family's reference ids.

    `split_words=True` is for encoding pre-split words (token tasks): byte-level BPE then puts the leading
    space on every word, so each word is encoded as in running text, as HF's run_ner does. Plain text keeps
    the folder's own setting unless `split_words` is set.
    """
    path = str(path)
    try:
        family = AutoConfig.from_pretrained(path).model_type
        tokenizer = _read_tokenizer(path, family, split_words)
    except Exception as error:
        raise _load_error(path, "tokenizer", error) from error
    if not tokenizer.is_fast:
        raise ModelLoadError(f"{path}: a fast tokenizer is needed (word_ids and offset_mapping)")
    return tokenizer


def _read_tokenizer(path: str, family: str, split_words: bool) -> PreTrainedTokenizerBase:
    inputs = {"model_input_names": MODEL_INPUTS[family]} if family in MODEL_INPUTS else {}
    if has_file(path, "tokenizer.json"):
        tokenizer = PreTrainedTokenizerFast.from_pretrained(path, **inputs)
        _name_family_special_tokens(tokenizer, family)
        if split_words:
            _prefix_every_word(tokenizer.backend_tokenizer)
        return tokenizer
    needed = VOCABULARY_FILES.get(family, ())
    missing = [name for name in needed if not has_file(path, name)]
    if missing:
        raise ModelLoadError(
            f"{path}: a {family} tokenizer is read from tokenizer.json or {' + '.join(needed)}; this folder has "
            f"neither (missing {', '.join(missing)}). Copy the tokenizer files of the model it comes from into it."
        )
    if family == "albert":
        return _sentencepiece_tokenizer(path, inputs)
    prefix = {"add_prefix_space": True} if split_words and family == "roberta" else {}
    return AutoTokenizer.from_pretrained(path, **inputs, **prefix)


def _name_family_special_tokens(tokenizer: PreTrainedTokenizerBase, family: str) -> None:
    """Give the special tokens that the folder leaves unnamed (a bare tokenizer.json) the family class's defaults."""
    if family not in TOKENIZER_MAPPING_NAMES:
        return
    defaults = inspect.signature(tokenizer_class_from_name(TOKENIZER_MAPPING_NAMES[family]).__init__).parameters
    vocab = tokenizer.get_vocab()
    for role in tokenizer.SPECIAL_TOKENS_ATTRIBUTES:
        default = defaults[role].default if role in defaults else None
        if getattr(tokenizer, role) is None and isinstance(default, str) and default in vocab:
            setattr(tokenizer, role, default)


def _prefix_every_word(backend: Tokenizer) -> None:
    """Make a byte-level BPE backend put the leading space on every word (a no-op for other backends)."""
    pipeline = Tokenizer(BPE())  # the two components alone: serialising the whole vocabulary is slow
    pipeline.pre_tokenizer, pipeline.post_processor = backend.pre_tokenizer, backend.post_processor
    state = json.loads(pipeline.to_str())
    changed = False
    for node in _components(state["pre_tokenizer"]) + _components(state["post_processor"]):
        if node.get("type") in ("ByteLevel", "RobertaProcessing") and not node.get("add_prefix_space"):
            node["add_prefix_space"] = changed = True
    if changed:
        rebuilt = Tokenizer.from_str(json.dumps(state))
        backend.pre_tokenizer, backend.post_processor = rebuilt.pre_tokenizer, rebuilt.post_processor


def _components(node: Any) -> list[dict[str, Any]]:
    """A pipeline component of a tokenizer.json and the components nested in it (Sequence)."""
    if not isinstance(node, dict):
        return []
    nested = node.get("pretokenizers") or node.get("processors") or []
    return [node] + [part for child in nested for part in _components(child)]


def _sentencepiece_problem(spec: Any) -> str | None:
    """Why ALBERT's tokenizer cannot reproduce a SentencePiece model with this trainer spec, if it cannot."""
    kinds = sentencepiece_model_pb2.TrainerSpec
    if spec.model_type not in (kinds.BPE, kinds.UNIGRAM):
        return f"it is a SentencePiece {kinds.ModelType.Name(spec.model_type)} model; only BPE and Unigram are read"
    if spec.byte_fallback:
        return "it uses byte fallback, which ALBERT's tokenizer does not"
    if spec.unk_id != 1:
        return f"its unknown piece has id {spec.unk_id}; ALBERT's tokenizer expects 1"
    return None


def _sentencepiece_tokenizer(path: str, inputs: dict[str, Any]) -> PreTrainedTokenizerBase:
    """ALBERT's tokenizer from spiece.model: Unigram as transformers builds it, BPE with its own merges."""
    extractor = SentencePieceExtractor(cached_file(path, "spiece.model"))
    spec = extractor.proto.trainer_spec
    problem = _sentencepiece_problem(spec)
    if problem:
        raise ModelLoadError(f"{path}: spiece.model cannot be loaded faithfully: {problem}")
    tokenizer = AutoTokenizer.from_pretrained(path, **inputs)  # ALBERT's normalizer, pre-tokenizer and template
    if spec.model_type == sentencepiece_model_pb2.TrainerSpec.UNIGRAM:
        return tokenizer
    pieces = extractor.extract(BPE)
    backend = tokenizer.backend_tokenizer
    backend.model = BPE(pieces["vocab"], pieces["merges"], unk_token=spec.unk_piece, fuse_unk=True)
    # AlbertTokenizer rebuilds a Unigram model when reloaded; the generic class reloads tokenizer.json as saved.
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, model_max_length=tokenizer.model_max_length,
        model_input_names=tokenizer.model_input_names, **tokenizer.special_tokens_map,
    )  # fmt: skip


def _load_weights(model_class: Any, path: str, **kwargs: Any) -> PreTrainedModel:
    """A model from safetensors where `path` has them; from a .bin checkpoint only as tensors, with a warning."""
    weights = next((name for name in SAFE_WEIGHTS + PICKLED_WEIGHTS if has_file(path, name)), None)
    if weights in PICKLED_WEIGHTS:
        log.warning(
            "%s: no safetensors weights; reading %s with torch.load(weights_only=True), which loads tensors only",
            path, weights,
        )  # fmt: skip
        return model_class.from_pretrained(path, use_safetensors=False, weights_only=True, **kwargs)
    return model_class.from_pretrained(path, use_safetensors=True, **kwargs)


def load_task_model(path: str | Path, auto_model: str, labels: list[str] | None = None) -> PreTrainedModel:
    """A task model (`auto_model`: a transformers AutoModelFor... class name) from a hub id or folder, with label names."""
    kwargs: dict[str, Any] = {}
    if labels:
        kwargs = {
            "num_labels": len(labels),
            "id2label": dict(enumerate(labels)),
            "label2id": {label: i for i, label in enumerate(labels)},
        }
    try:
        return _load_weights(getattr(transformers, auto_model), str(path), **kwargs)
    except Exception as error:
        raise _load_error(str(path), f"{auto_model} model", error) from error


def cut_albert(base: str | Path, num_layers: int, out_dir: str | Path) -> Path:
    """Save ALBERT `base` with only `num_layers` layers; the shared layer weights are kept as they are."""
    from transformers import AutoModelForMaskedLM

    try:
        config = AutoConfig.from_pretrained(str(base))
    except Exception as error:
        raise _load_error(str(base), "config", error) from error
    if config.model_type != "albert":
        raise ValueError(f"{base}: students are cut from an ALBERT model, not {config.model_type!r}")
    if num_layers > config.num_hidden_layers:
        raise ValueError(f"{base} has {config.num_hidden_layers} layers; cannot keep {num_layers}")
    try:
        model = _load_weights(AutoModelForMaskedLM, str(base), num_hidden_layers=num_layers)
    except Exception as error:
        raise _load_error(str(base), "masked-LM model", error) from error
    out = Path(out_dir)
    model.save_pretrained(out)
    load_tokenizer(base).save_pretrained(out)
    return out
