"""Real tokenizer files of every family: ids as their reference gives them, words that encode to nothing, reloads.

Fixtures (tests/fixtures/tokenizers/README.md): BETO's vocab.txt, RoBERTa-BNE's tokenizer.json, two SentencePiece
models trained like ALBETO's, and real Spanish sentences from UD AnCora. Each test builds its model folders
(config.json + tokenizer files) under tmp_path; nothing is downloaded.
"""

from __future__ import annotations

import json
import shutil
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2
from tokenizers import ByteLevelBPETokenizer, Tokenizer, processors
from transformers import AlbertConfig, AlbertForMaskedLM, AutoTokenizer

from speedy.models import ModelLoadError, cut_albert, load_tokenizer
from speedy.word_pipeline import encodable_words

FIXTURES = Path(__file__).parent / "fixtures" / "tokenizers"
SENTENCES = (FIXTURES / "ancora-test.txt").read_text(encoding="utf-8").splitlines()
PAIRS = list(zip(SENTENCES[::2], SENTENCES[1::2]))
BNE = json.loads((FIXTURES / "roberta-bne" / "tokenizer.json").read_text(encoding="utf-8"))
ALBETO_CONFIG = {  # tokenizer_config.json of dccuchile/albert-*-spanish
    "bos_token": "[CLS]", "cls_token": "[CLS]", "do_lower_case": True, "eos_token": "[SEP]", "keep_accents": True,
    "mask_token": {"__type": "AddedToken", "content": "[MASK]", "lstrip": True, "normalized": True, "rstrip": False,
                   "single_word": False},
    "model_max_length": 512, "pad_token": "<pad>", "remove_space": True, "sep_token": "[SEP]",
    "tokenizer_class": "AlbertTokenizer", "unk_token": "<unk>",
}  # fmt: skip
MIN_AGREEMENT = 0.995

Reference = Callable[..., list[int]]  # (text) or (text, text_pair) -> ids with the family's special tokens


# ------------------------------------------------------------------ references
def _is_whitespace(char: str) -> bool:
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def _is_control(char: str) -> bool:
    return char not in "\t\n\r" and unicodedata.category(char) in ("Cc", "Cf")


def _is_punctuation(char: str) -> bool:
    cp = ord(char)
    ascii_punctuation = 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126
    return ascii_punctuation or unicodedata.category(char).startswith("P")


def _is_cjk(cp: int) -> bool:
    ranges = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
              (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]  # fmt: skip
    return any(low <= cp <= high for low, high in ranges)


class BertReference:
    """BERT's basic tokenizer and greedy longest-match WordPiece, as in google-research/bert tokenization.py."""

    def __init__(self, vocab_file: Path, lower: bool, strip_accents: bool):
        self.vocab = {token: i for i, token in enumerate(vocab_file.read_text(encoding="utf-8").split("\n"))}
        self.lower, self.strip_accents = lower, strip_accents

    def words(self, text: str) -> list[str]:
        text = "".join(" " if _is_whitespace(c) else c for c in text
                       if ord(c) not in (0, 0xFFFD) and not _is_control(c))
        text = "".join(f" {c} " if _is_cjk(ord(c)) else c for c in text)
        words = []
        for token in text.split():
            if self.lower:
                token = token.lower()
            if self.strip_accents:
                token = "".join(c for c in unicodedata.normalize("NFD", token) if unicodedata.category(c) != "Mn")
            current = ""
            for char in token:
                if _is_punctuation(char):
                    words += [current, char] if current else [char]
                    current = ""
                else:
                    current += char
            if current:
                words.append(current)
        return words

    def wordpiece(self, word: str) -> list[int]:
        if len(word) > 100:
            return [self.vocab["[UNK]"]]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start and ("##" if start else "") + word[start:end] not in self.vocab:
                end -= 1
            if end == start:
                return [self.vocab["[UNK]"]]
            ids.append(self.vocab[("##" if start else "") + word[start:end]])
            start = end
        return ids

    def __call__(self, text: str, pair: str | None = None) -> list[int]:
        cls, sep = self.vocab["[CLS]"], self.vocab["[SEP]"]
        ids = [cls] + [i for word in self.words(text) for i in self.wordpiece(word)] + [sep]
        return ids if pair is None else ids + [i for word in self.words(pair) for i in self.wordpiece(word)] + [sep]


def albert_reference(model_file: Path, lower: bool, keep_accents: bool) -> Reference:
    """ALBERT's text preprocessing (tokenizer_config flags), then the sentencepiece library; [CLS] A [SEP] B [SEP]."""
    processor = spm.SentencePieceProcessor(model_file=str(model_file))

    def pieces(text: str) -> list[int]:
        text = " ".join(text.strip().split()).replace("``", '"').replace("''", '"')
        if not keep_accents:
            text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
        return processor.encode(text.lower() if lower else text)

    cls, sep = processor.piece_to_id("[CLS]"), processor.piece_to_id("[SEP]")
    return lambda text, pair=None: [cls, *pieces(text), sep] + ([] if pair is None else [*pieces(pair), sep])


def tokenizers_reference(tokenizer: Tokenizer) -> Reference:
    """A `tokenizers` tokenizer with its own post-processor."""
    return lambda text, pair=None: tokenizer.encode(text, pair).ids


def byte_level_reference(folder: Path, add_prefix_space: bool) -> Reference:
    """`tokenizers`' byte-level BPE from vocab.json + merges.txt, with RoBERTa's <s> A </s></s> B </s>."""
    tokenizer = ByteLevelBPETokenizer(
        str(folder / "vocab.json"), str(folder / "merges.txt"), add_prefix_space=add_prefix_space, trim_offsets=True
    )
    tokenizer.post_processor = processors.RobertaProcessing(
        ("</s>", tokenizer.token_to_id("</s>")), ("<s>", tokenizer.token_to_id("<s>")),
        trim_offsets=True, add_prefix_space=add_prefix_space,
    )  # fmt: skip
    return tokenizers_reference(tokenizer)


# ------------------------------------------------------------------ model folders
def model_folder(root: Path, name: str, model_type: str, files: dict[str, Path | str], config: dict | None) -> Path:
    """A model folder: config.json, tokenizer files (copied from a path or written from text) and tokenizer_config."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
    for target, source in files.items():
        if isinstance(source, Path):
            shutil.copy(source, folder / target)
        else:
            (folder / target).write_text(source, encoding="utf-8")
    if config is not None:
        (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def bne_json(add_prefix_space: bool) -> str:
    """RoBERTa-BNE's tokenizer.json, with the prefix space as given (BERTIN-like folders have none)."""
    state = json.loads(json.dumps(BNE))
    for part in ("pre_tokenizer", "post_processor", "decoder"):
        state[part]["add_prefix_space"] = add_prefix_space
    return json.dumps(state, ensure_ascii=False)


def bne_vocabulary() -> dict[str, str]:
    """RoBERTa-BNE's vocab.json and merges.txt as the hub ships them (they hold its tokenizer.json's model)."""
    merges = "#version: 0.2 - Trained by `huggingface/tokenizers`\n" + "\n".join(BNE["model"]["merges"]) + "\n"
    return {"vocab.json": json.dumps(BNE["model"]["vocab"], ensure_ascii=False), "merges.txt": merges}


def beto(root: Path, name: str, model_type: str, config: dict) -> tuple[Path, Reference]:
    """BETO's vocab.txt with a tokenizer_config (BERT strips accents when lower-casing unless told not to)."""
    real = FIXTURES / "beto-cased"
    files = {"vocab.txt": real / "vocab.txt", "special_tokens_map.json": real / "special_tokens_map.json"}
    folder = model_folder(root, name, model_type, files, config)
    lower = config["do_lower_case"]
    return folder, BertReference(real / "vocab.txt", lower, config.get("strip_accents", lower))


def albert_spiece(root: Path, name: str, kind: str, config: dict | None) -> tuple[Path, Reference]:
    """An ALBERT folder with only spiece.model (ALBERT lower-cases and strips accents unless the config says not)."""
    model = FIXTURES / f"spiece-{kind}.model"
    folder = model_folder(root, name, "albert", {"spiece.model": model}, config)
    flags = config or {}
    return folder, albert_reference(model, flags.get("do_lower_case", True), flags.get("keep_accents", False))


def albert_json(root: Path, name: str, kind: str) -> tuple[Path, Reference]:
    """An ALBETO folder whose tokenizer.json holds a BPE or a Unigram model."""
    source, _ = albert_spiece(root, f"{name}-source", kind, ALBETO_CONFIG)
    saved = root / f"{name}-saved"
    (load_tokenizer(source) if kind == "bpe" else AutoTokenizer.from_pretrained(source)).save_pretrained(saved)
    folder = model_folder(root, name, "albert", {"tokenizer.json": saved / "tokenizer.json"}, ALBETO_CONFIG)
    return folder, tokenizers_reference(Tokenizer.from_file(str(folder / "tokenizer.json")))


def roberta_vocabulary(root: Path, name: str, add_prefix_space: bool | None) -> tuple[Path, Reference]:
    """vocab.json + merges.txt, with a tokenizer_config that sets add_prefix_space, or none (then it is off)."""
    config = None if add_prefix_space is None else {"add_prefix_space": add_prefix_space}
    folder = model_folder(root, name, "roberta", bne_vocabulary(), config)
    return folder, byte_level_reference(folder, bool(add_prefix_space))


def roberta_json(root: Path, name: str, add_prefix_space: bool) -> tuple[Path, Reference]:
    """RoBERTa-BNE's tokenizer files, its tokenizer.json and config with the prefix space as given."""
    real = FIXTURES / "roberta-bne"
    config = {**json.loads((real / "tokenizer_config.json").read_text()), "add_prefix_space": add_prefix_space}
    files = {"tokenizer.json": bne_json(add_prefix_space), "special_tokens_map.json": real / "special_tokens_map.json"}
    folder = model_folder(root, name, "roberta", files, config)
    return folder, tokenizers_reference(Tokenizer.from_file(str(folder / "tokenizer.json")))


BETO_CASED = json.loads((FIXTURES / "beto-cased" / "tokenizer_config.json").read_text())
UNCASED = {"do_lower_case": True, "strip_accents": False}  # lower-cased, accents kept; {"do_lower_case": True} strips
FILE_SETS = {  # name -> (family, builder(root, name) -> (folder, reference))
    "albert-spiece-bpe": ("albert", lambda r, n: albert_spiece(r, n, "bpe", ALBETO_CONFIG)),
    "albert-spiece-unigram": ("albert", lambda r, n: albert_spiece(r, n, "unigram", ALBETO_CONFIG)),
    "albert-spiece-bpe-no-config": ("albert", lambda r, n: albert_spiece(r, n, "bpe", None)),
    "albert-tokenizer.json-bpe": ("albert", lambda r, n: albert_json(r, n, "bpe")),
    "albert-tokenizer.json-unigram": ("albert", lambda r, n: albert_json(r, n, "unigram")),
    "beto-cased-vocab.txt": ("bert", lambda r, n: beto(r, n, "bert", BETO_CASED)),
    "beto-uncased-vocab.txt": ("bert", lambda r, n: beto(r, n, "bert", UNCASED)),
    "beto-uncased-strip-accents-vocab.txt": ("bert", lambda r, n: beto(r, n, "bert", {"do_lower_case": True})),
    "distilbeto-vocab.txt": ("distilbert", lambda r, n: beto(r, n, "distilbert", UNCASED)),
    "roberta-bne-tokenizer.json": ("roberta", lambda r, n: roberta_json(r, n, True)),
    "roberta-no-prefix-tokenizer.json": ("roberta", lambda r, n: roberta_json(r, n, False)),
    "roberta-bne-vocab.json+merges.txt": ("roberta", lambda r, n: roberta_vocabulary(r, n, True)),
    "roberta-no-config-vocab.json+merges.txt": ("roberta", lambda r, n: roberta_vocabulary(r, n, None)),
}
SEGMENTS = {"bert", "albert"}  # families whose pairs carry segment ids 0 ... 0 1 ... 1


@pytest.fixture(scope="module")
def file_set(tmp_path_factory) -> Callable[[str], tuple[str, Path, Reference]]:
    """The family, model folder and reference of a file set, built once per test module."""
    root, built = tmp_path_factory.mktemp("file-sets"), {}

    def get(name: str) -> tuple[str, Path, Reference]:
        if name not in built:
            family, builder = FILE_SETS[name]
            built[name] = (family, *builder(root, name))
        return built[name]

    return get


def identical(tokenizer, reference: Reference, family: str) -> tuple[int, int]:
    """How many sentences and how many pairs encode to the reference's ids (and segment ids, for pairs)."""
    singles = tokenizer(SENTENCES)["input_ids"]
    pairs = tokenizer([a for a, _ in PAIRS], [b for _, b in PAIRS])
    same_singles = sum(ids == reference(text) for ids, text in zip(singles, SENTENCES))
    same_pairs = 0
    for i, (a, b) in enumerate(PAIRS):
        ids = pairs["input_ids"][i]
        segments_ok = True
        if family in SEGMENTS:
            first_sep = ids.index(tokenizer.sep_token_id)
            segments_ok = pairs["token_type_ids"][i] == [0] * (first_sep + 1) + [1] * (len(ids) - first_sep - 1)
        same_pairs += ids == reference(a, b) and segments_ok
    return same_singles, same_pairs


# ------------------------------------------------------------------ fidelity
@pytest.mark.parametrize("name", sorted(FILE_SETS))
def test_ids_agree_with_the_reference_on_real_sentences(file_set, name):
    family, folder, reference = file_set(name)
    tokenizer = load_tokenizer(folder)
    assert tokenizer.is_fast
    same_singles, same_pairs = identical(tokenizer, reference, family)
    share = (same_singles + same_pairs) / (len(SENTENCES) + len(PAIRS))
    counts = f"{same_singles}/{len(SENTENCES)} sentences and {same_pairs}/{len(PAIRS)} pairs"
    print(f"\n{name}: {counts} encode to the reference's ids ({share:.2%})")
    assert same_singles / len(SENTENCES) >= MIN_AGREEMENT and same_pairs / len(PAIRS) >= MIN_AGREEMENT


@pytest.mark.parametrize("name", ["albert-spiece-bpe", "albert-tokenizer.json-bpe"])
def test_sentencepiece_bpe_stays_bpe(file_set, name):
    _, folder, _ = file_set(name)
    assert type(load_tokenizer(folder).backend_tokenizer.model).__name__ == "BPE"


@pytest.mark.parametrize("name", sorted(FILE_SETS))
def test_saved_tokenizer_reloads_with_transformers_alone(file_set, tmp_path, name):
    family, folder, _ = file_set(name)
    words = [sentence.split() for sentence in SENTENCES[:50]]
    for split_words in (False, True) if family == "roberta" else (False,):  # only byte-level BPE differs
        tokenizer = load_tokenizer(folder, split_words=split_words)
        saved = tmp_path / f"saved-{split_words}"
        tokenizer.save_pretrained(saved)
        shutil.copy(folder / "config.json", saved / "config.json")
        reloaded = AutoTokenizer.from_pretrained(saved)
        for encode in (lambda t: t(SENTENCES[:200]), lambda t: t(words, is_split_into_words=True),
                       lambda t: t([a for a, _ in PAIRS[:100]], [b for _, b in PAIRS[:100]])):  # fmt: skip
            assert dict(encode(reloaded)) == dict(encode(tokenizer)), (name, split_words)


@pytest.mark.parametrize("kind", ["bpe", "unigram"])
def test_a_cut_student_reloads_its_bases_tokenizer_with_transformers_alone(tmp_path, kind):
    base, reference = albert_spiece(tmp_path, "albeto", kind, ALBETO_CONFIG)
    config = AlbertConfig(vocab_size=4000, embedding_size=8, hidden_size=8, num_hidden_layers=2,
                          num_attention_heads=2, intermediate_size=8)  # fmt: skip
    AlbertForMaskedLM(config).save_pretrained(base)
    student = cut_albert(base, 1, tmp_path / "student")
    reloaded = AutoTokenizer.from_pretrained(student)
    assert reloaded(SENTENCES)["input_ids"] == [reference(text) for text in SENTENCES]
    pairs = reloaded([a for a, _ in PAIRS], [b for _, b in PAIRS])
    assert pairs["input_ids"] == [reference(a, b) for a, b in PAIRS] and "token_type_ids" in pairs


@pytest.mark.parametrize("name", ["roberta-bne-tokenizer.json", "albert-tokenizer.json-bpe"])
def test_a_bare_tokenizer_json_gets_the_familys_special_tokens(file_set, tmp_path, name):
    _, folder, _ = file_set(name)
    bare = model_folder(tmp_path, "bare", json.loads((folder / "config.json").read_text())["model_type"],
                        {"tokenizer.json": folder / "tokenizer.json"}, None)  # fmt: skip
    tokenizer, expected = load_tokenizer(bare), load_tokenizer(folder)
    roles = ["unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]
    assert {role: getattr(tokenizer, role) for role in roles} == {role: getattr(expected, role) for role in roles}
    assert tokenizer.pad_token_id is not None
    assert tokenizer(SENTENCES[:20])["input_ids"] == expected(SENTENCES[:20])["input_ids"]


# ------------------------------------------------------------------ plain text and pre-split words (RoBERTa)
@pytest.mark.parametrize("name", ["roberta-no-prefix-tokenizer.json", "roberta-no-config-vocab.json+merges.txt"])
def test_byte_level_words_get_the_prefix_space_and_plain_text_does_not(file_set, name):
    _, folder, reference = file_set(name)
    plain, words = load_tokenizer(folder), load_tokenizer(folder, split_words=True)
    assert all(plain(text)["input_ids"] == reference(text) for text in SENTENCES[:100])
    prefixed = Tokenizer.from_str(bne_json(True))
    for sentence in SENTENCES[:100]:
        split = sentence.split()
        expected = [i for word in split for i in prefixed.encode(word, add_special_tokens=False).ids]
        assert words(split, is_split_into_words=True)["input_ids"][1:-1] == expected
        assert plain(split, is_split_into_words=True)["input_ids"][1:-1] != expected  # the folder's own setting


def test_prefix_space_folders_encode_words_alike_either_way(file_set):
    _, folder, reference = file_set("roberta-bne-tokenizer.json")
    words = [sentence.split() for sentence in SENTENCES[:100]]
    plain, split = load_tokenizer(folder), load_tokenizer(folder, split_words=True)
    assert plain(words, is_split_into_words=True)["input_ids"] == split(words, is_split_into_words=True)["input_ids"]
    assert all(split(text)["input_ids"] == reference(text) for text in SENTENCES[:100])


# ------------------------------------------------------------------ broken or unknown file sets
def spiece_with(tmp_path: Path, **spec) -> Path:
    """The BPE spiece.model fixture with some trainer_spec fields changed."""
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString((FIXTURES / "spiece-bpe.model").read_bytes())
    for field, value in spec.items():
        setattr(proto.trainer_spec, field, value)
    path = tmp_path / "changed.model"
    path.write_bytes(proto.SerializeToString())
    return path


SPIECE_CHANGES = {"word-level": {"model_type": sentencepiece_model_pb2.TrainerSpec.WORD},
                  "byte-fallback": {"byte_fallback": True}}  # fmt: skip
BROKEN = {  # name -> (model_type, files, message); "word-level" and "byte-fallback" stand for changed spiece.models
    "no tokenizer files": ("bert", {}, "tokenizer.json or vocab.txt"),
    "merges.txt missing": ("roberta", {"vocab.json": "{}"}, "missing merges.txt"),
    "spiece.model missing": ("albert", {"vocab.txt": "[UNK]"}, "missing spiece.model"),
    "truncated tokenizer.json": ("roberta", {"tokenizer.json": bne_json(True)[:5000]}, "cannot load the tokenizer"),
    "spiece.model not a model": ("albert", {"spiece.model": "no sentencepiece model"}, "cannot load the tokenizer"),
    "word-level spiece.model": ("albert", {"spiece.model": "word-level"}, "only BPE and Unigram"),
    "byte-fallback spiece.model": ("albert", {"spiece.model": "byte-fallback"}, "byte fallback"),
    "unknown model type": ("no-such-family", {}, "cannot load the tokenizer"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_or_unknown_file_sets_are_refused_naming_the_folder(tmp_path, name):
    model_type, files, message = BROKEN[name]
    files = {k: spiece_with(tmp_path, **SPIECE_CHANGES[v]) if v in SPIECE_CHANGES else v for k, v in files.items()}
    folder = model_folder(tmp_path, "model", model_type, files, None)
    with pytest.raises(ModelLoadError, match=message) as error:
        load_tokenizer(folder)
    assert str(folder) in str(error.value)


# ------------------------------------------------------------------ words with no sub-token
ODD_WORDS = [
    "\ufeff", "Hola", "\u200b", "señor", "\u200e", "co\u00adoperar", "\u00ad", "\u0301", "e\u0301", "😀",
    "a" * 300, "acción", "\x07", "pingüino", "\u200b\u200b", "¿Qué?", "\u00a0", "Ñandú", "",
]  # fmt: skip


@pytest.mark.parametrize("name", sorted(FILE_SETS))
def test_every_word_keeps_one_first_sub_token(file_set, name):
    _, folder, _ = file_set(name)
    tokenizer = load_tokenizer(folder, split_words=True)
    sentences = [ODD_WORDS, list(reversed(ODD_WORDS)), ["Ana", "\ufeff", "vive", "en", "Lima", "."]]
    safe, pieces = encodable_words(tokenizer, sentences)
    encoded = tokenizer(safe, is_split_into_words=True)
    for i, (words, kept) in enumerate(zip(sentences, safe)):
        assert sorted({w for w in encoded.word_ids(i) if w is not None}) == list(range(len(words)))
        raw = tokenizer([[word] for word in words], is_split_into_words=True, add_special_tokens=False)["input_ids"]
        assert kept == [tokenizer.unk_token if not ids else word for word, ids in zip(words, raw)]
        assert pieces[i] == [sum(1 for w in encoded.word_ids(i) if w == word) for word in range(len(words))]


def test_without_the_rule_a_word_is_lost(file_set):
    _, folder, _ = file_set("beto-cased-vocab.txt")
    tokenizer = load_tokenizer(folder)
    words = ["Ana", "\ufeff", "vive", "\u200b", "en", "Lima"]
    lost = set(range(len(words))) - set(tokenizer(words, is_split_into_words=True).word_ids()) - {None}
    assert lost == {1, 3}
    assert encodable_words(tokenizer, [words])[0] == [["Ana", "[UNK]", "vive", "[UNK]", "en", "Lima"]]


@pytest.mark.parametrize("name", sorted(FILE_SETS))
def test_token_tasks_predict_exactly_one_label_per_word(file_set, name):
    """Odd words and a sentence longer than the window, through the token task with each real tokenizer."""
    import datasets
    import numpy as np

    from speedy.tasks import TaskSettings, make_task

    _, folder, _ = file_set(name)
    tokenizer = load_tokenizer(folder, split_words=True)
    labels = ["O", "B-PER", "I-PER"]
    task = make_task("token", TaskSettings(max_seq_length=24, doc_stride=6), labels)
    sentences = [ODD_WORDS[:-1], ["Ana", "\ufeff", "vive", "en", "Lima", "."] * 9, ["\u200b"]]
    examples = datasets.Dataset.from_dict(
        {"id": ["odd", "long", "empty"], "words": sentences, "tags": [[0] * len(s) for s in sentences]}
    )
    features = task.featurize(examples, tokenizer)
    assert features.example_ids.count("long") > 1, "the long sentence needs several windows"
    # fake logits: the word index on the token that carries it, so predictions say which word they came from
    logits = []
    for f, firsts in enumerate(features.first_of_word):
        row = np.zeros((len(firsts), len(labels)))
        for pos, word in enumerate(firsts):
            row[pos, word % len(labels)] = 1.0 if word >= 0 else 0.0
        logits.append(row)
    predictions = task.predictions({"logits": logits}, features, examples)
    assert [len(p) for p in predictions] == [len(s) for s in sentences]
    assert all(p == [labels[w % len(labels)] for w in range(len(p))] for p in predictions)
    rows = task.teacher_rows({"logits": logits}, features, examples)
    assert [len(r["logits"]) for r in rows] == [len(s) for s in sentences]
