"""The demo world: deterministic synthetic datasets that load, and tiny models that load and tokenize."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import transformers

from speedy.demo.data import FORMATS, LABEL_NOISE, SIZES, TRANSLATED, UNTRANSLATED, corpus_texts, write_demo_corpus, write_demo_dataset
from speedy.demo.models import Pretraining, build_demo_model

from conftest import source_split
from speedy.models import load_task_model, load_tokenizer
from speedy.tasks import task_type

EXTENSIONS = {"mldoc_tsv": "tsv", "pawsx_tsv": "tsv", "xnli_tsv": "tsv", "conllu": "conllu", "conll2002": "txt",
              "squad_json": "json"}  # fmt: skip
PAIR_TOKENS = {  # tok("hola", "mundo"): the special tokens around and between the two texts
    "bert": ("[CLS]", "[SEP]", "[SEP]", "[SEP]"),
    "distilbert": ("[CLS]", "[SEP]", "[SEP]", "[SEP]"),
    "albert": ("[CLS]", "[SEP]", "[SEP]", "[SEP]"),
    "roberta": ("<s>", "</s>", "</s>", "</s>"),
}
TASKS = {"classification": ["CCAT", "ECAT", "GCAT", "MCAT"], "token": ["O", "B-PER", "I-PER"], "qa": None}


# ------------------------------------------------------------------ datasets
@pytest.mark.parametrize("dataset", sorted(FORMATS))
def test_generator_is_deterministic(tmp_path, dataset):
    fmt = FORMATS[dataset]
    paths = [tmp_path / f"{name}.{EXTENSIONS[fmt]}" for name in ("a", "b", "c")]
    for path, seed in zip(paths, (7, 7, 8)):
        write_demo_dataset(dataset, "validation", path, fmt, seed)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_generator_rejects_a_wrong_format(tmp_path):
    with pytest.raises(ValueError, match="written as 'conllu', not 'conll2002'"):
        write_demo_dataset("pos", "train", tmp_path / "x", "conll2002", 1)


def test_splits_differ(data_demo):
    paths = data_demo["datasets"]["mldoc"]["splits"]
    assert Path(paths["validation"]["path"]).read_text() != Path(paths["test"]["path"]).read_text()


@pytest.mark.parametrize("dataset", sorted(FORMATS))
def test_demo_dataset_loads(data_demo, dataset):
    entry = data_demo["datasets"][dataset]
    for split, size in SIZES.items():
        frame = source_split(data_demo, dataset, split)
        assert len(frame) == size
        if entry["task"] == "classification":
            assert sorted(set(frame.label)) == list(range(len(entry["labels"])))
        elif entry["task"] == "token" and split == "train":
            tags = {entry["labels"][t] for tags in frame.tags for t in tags}
            expected = set(entry["labels"]) if dataset == "ner" else set(entry["labels"]) - {"PART", "X"}
            assert tags == expected
        elif entry["task"] == "qa":
            assert frame.context.str.split().map(len).between(15, 65).all()
            assert (frame.context.str.split().map(len) > 45).any()  # long and short contexts
            answers = frame.answers.map(lambda a: len(a["text"]))
            assert (answers == 1).all() if split != "test" else set(answers) == {1, 2}


def test_demo_files_exercise_the_loaders(data_demo):
    splits = {d: entry["splits"]["train"]["path"] for d, entry in data_demo["datasets"].items()}
    xnli_rows = Path(splits["xnli"]).read_text(encoding="utf-8").splitlines()[1:]
    assert sum(not row.startswith("es\t") for row in xnli_rows) > 10
    conllu = Path(splits["pos"]).read_text(encoding="utf-8")
    assert "\tdel\t" in conllu and "\tal\t" in conllu
    assert "del" not in {w for words in source_split(data_demo, "pos", "train").words for w in words}
    assert Path(splits["ner"]).read_text(encoding="utf-8").startswith("-DOCSTART-")


def test_corpus_holds_no_text_of_any_split(data_demo, tmp_path):
    formats = {dataset: FORMATS[dataset] for dataset in FORMATS}
    lines = write_demo_corpus(formats, 60, tmp_path / "corpus.txt", data_demo["seed"])
    corpus = set((tmp_path / "corpus.txt").read_text(encoding="utf-8").splitlines())
    assert len(corpus) == lines > 8 * 30
    for entry in data_demo["datasets"].values():
        for spec in entry["splits"].values():
            texts = set(corpus_texts({spec["path"]: spec["format"]})) - {""}
            shared = texts & corpus  # short templates filled alike by chance ("Alguien pintó un cuadro."), no document
            assert max(map(len, shared), default=0) < 120, shared
    assert [p.name for p in tmp_path.iterdir()] == ["corpus.txt"]


def untranslated_share(config: dict, dataset: str, split: str) -> float:
    """The share of a split's words that a machine translation left in English."""
    spec = config["datasets"][dataset]["splits"][split]
    words = " ".join(corpus_texts({spec["path"]: spec["format"]})).split()
    return sum(word in UNTRANSLATED for word in words) / len(words)


@pytest.mark.parametrize("dataset", sorted(TRANSLATED))
def test_machine_translated_splits_are_noisier_than_test(data_demo, dataset):
    assert untranslated_share(data_demo, dataset, "test") == 0
    for split in TRANSLATED[dataset]:
        assert untranslated_share(data_demo, dataset, split) > 0.005  # QA translates only the questions


def test_translated_xnli_labels_are_noisy(data_demo):
    """A contradiction template says nunca, no or Nadie; a translated split labels some such pairs otherwise."""
    labels = {}
    for split in ("train", "test"):
        frame = source_split(data_demo, "xnli", split)
        negated = frame.text_pair.str.contains(r"\b(?:nunca|no|Nadie)\b")
        labels[split] = float((negated != (frame.label == 2)).mean())
    assert labels["test"] == 0 and LABEL_NOISE / 2 < labels["train"] < LABEL_NOISE * 1.5


def test_pretraining_lowers_the_masked_lm_loss(data_demo, tmp_path):
    formats = {dataset: FORMATS[dataset] for dataset in ("mldoc", "ner")}
    write_demo_corpus(formats, 100, tmp_path / "corpus.txt", 1)
    entry = data_demo["models"]["albeto-tiny"]
    settings = Pretraining(steps=40, batch_size=16, learning_rate=3e-3, seq_length=32)
    losses = build_demo_model(entry["family"], entry["arch"], tmp_path / "corpus.txt", settings, tmp_path / "model", 1)
    assert losses["last_loss"] < losses["first_loss"] - 1.0
    assert not (tmp_path / "model" / "trainer").exists()
    assert load_tokenizer(tmp_path / "model").is_fast


# ------------------------------------------------------------------ models
def models(config: dict) -> list[tuple[str, dict]]:
    return list(config["models"].items())


def test_model_folders(data_demo):
    for name, entry in models(data_demo):
        folder = Path(entry["pretrained"])
        assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= {
            p.name for p in folder.iterdir()
        }, name
        tokenizer = load_tokenizer(folder)
        assert tokenizer.is_fast
        assert len(tokenizer) <= entry["arch"]["vocab_size"]
        assert len(tokenizer) > entry["arch"]["vocab_size"] // 2


def test_vocab_sizes_differ_across_families(data_demo):
    sizes = {entry["family"]: len(load_tokenizer(entry["pretrained"])) for _, entry in models(data_demo)}
    assert len(set(sizes.values())) >= 3


def test_pairs_and_special_tokens(data_demo):
    for _, entry in models(data_demo):
        tokenizer = load_tokenizer(entry["pretrained"])
        encoded = tokenizer("hola", "mundo")
        tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
        cls, sep1, sep2, end = PAIR_TOKENS[entry["family"]]
        assert tokens[0] == cls and tokens[-1] == end
        middle = tokens.index(sep1)
        assert tokens[middle + (1 if entry["family"] == "roberta" else 0)] == sep2
        assert encoded.sequence_ids() == [
            None if i in (0, len(tokens) - 1) or tokens[i] in (sep1, sep2) else (0 if i < middle else 1)
            for i in range(len(tokens))
        ]
        assert ("token_type_ids" in encoded) == (entry["family"] in ("bert", "albert"))
        assert tokenizer.pad_token_id == (1 if entry["family"] == "roberta" else 0)
        assert tokenizer.decode(tokenizer("Ana vive en Lima.")["input_ids"], skip_special_tokens=True).strip() in (
            "Ana vive en Lima.",
            "ana vive en lima.",
        )


def test_words_offsets_and_windows(data_demo):
    words = ["María", "García", "viajó", "a", "Buenos", "Aires", "."]
    context = "Talleres Ortiz es una empresa fundada en 1890 por Ana López en Lima. " * 4
    for _, entry in models(data_demo):
        tokenizer = load_tokenizer(entry["pretrained"])
        encoded = tokenizer(words, is_split_into_words=True)
        word_ids = [w for w in encoded.word_ids() if w is not None]
        assert sorted(set(word_ids)) == list(range(len(words)))
        windows = tokenizer(
            ["¿Quién fundó Talleres Ortiz?"],
            [context],
            truncation="only_second",
            max_length=48,
            stride=16,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding="max_length",
        )
        assert len(windows["input_ids"]) > 1
        assert set(windows["overflow_to_sample_mapping"]) == {0}
        assert all(len(ids) == 48 for ids in windows["input_ids"])
        spans = [
            (start, end)
            for i, offsets in enumerate(windows["offset_mapping"])
            for sequence, (start, end) in zip(windows.sequence_ids(i), offsets)
            if sequence == 1
        ]
        assert all(0 <= start <= end <= len(context) for start, end in spans)
        assert sum(bool(context[start:end].strip()) for start, end in spans) > 0.9 * len(spans)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_task_models_run(data_demo, task):
    for _, entry in models(data_demo):
        tokenizer = load_tokenizer(entry["pretrained"])
        model = load_task_model(entry["pretrained"], task_type(task).auto_model, TASKS[task]).eval()
        batch = tokenizer(["Ana vive en Lima.", "El gobierno aprobó una ley."], padding=True, return_tensors="pt")
        with torch.no_grad():
            output = model(**batch)
        if task == "qa":
            assert output.start_logits.shape == batch["input_ids"].shape
        else:
            labels = len(TASKS[task])
            assert output.logits.shape[-1] == labels and model.config.id2label[labels - 1] == TASKS[task][-1]


@pytest.mark.parametrize(
    ("task", "pipeline_task"), [("classification", "text-classification"), ("token", "token-classification")]
)
def test_pipelines_from_saved_task_models(data_demo, tmp_path, task, pipeline_task):
    for name, entry in models(data_demo):
        folder = tmp_path / name
        load_task_model(entry["pretrained"], task_type(task).auto_model, TASKS[task]).save_pretrained(folder)
        load_tokenizer(entry["pretrained"]).save_pretrained(folder)
        predictions = transformers.pipeline(pipeline_task, model=str(folder), device="cpu")("Ana vive en Lima.")
        assert isinstance(predictions, list)
