"""Students cut from ALBERT base, hub-or-folder loading errors, weights that are never unpickled."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch
from transformers import AlbertConfig, AlbertForMaskedLM, AutoModelForMaskedLM

from speedy.models import ModelLoadError, cut_albert, load_task_model, load_tokenizer


def test_cut_student_keeps_base_weights_with_fewer_layers(data_demo, tmp_path):
    base = data_demo["models"]["albeto-base"]["pretrained"]
    student = cut_albert(base, 2, tmp_path / "albeto-base-2")
    base_model, student_model = (AutoModelForMaskedLM.from_pretrained(str(p)) for p in (base, student))
    assert student_model.config.num_hidden_layers == 2
    assert base_model.config.num_hidden_layers > 2
    assert sum(p.numel() for p in student_model.parameters()) == sum(p.numel() for p in base_model.parameters())
    base_state, student_state = base_model.state_dict(), student_model.state_dict()
    assert all((base_state[k] == v).all() for k, v in student_state.items()), "every weight comes from base"
    assert load_tokenizer(student).get_vocab() == load_tokenizer(base).get_vocab()


def test_only_albert_can_be_cut(data_demo, tmp_path):
    with pytest.raises(ValueError, match="cut from an ALBERT model"):
        cut_albert(data_demo["models"]["beto-cased"]["pretrained"], 1, tmp_path / "x")
    with pytest.raises(ValueError, match="cannot keep 9"):
        cut_albert(data_demo["models"]["albeto-base"]["pretrained"], 9, tmp_path / "y")


def test_unreachable_model_says_how_to_use_a_local_folder(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import; no network timeouts
    with pytest.raises(ModelLoadError, match="set the model's `pretrained:` to DIR"):
        load_tokenizer("dccuchile/no-such-model")
    with pytest.raises(ModelLoadError, match="dccuchile/no-such-model"):
        load_task_model("dccuchile/no-such-model", "AutoModelForSequenceClassification", ["a", "b"])


class Payload:
    """Pickled, it makes a folder when unpickled: code that a weights file must never run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def tiny_albert(folder, payload=None):
    """A tiny ALBERT masked-LM in `folder` with only pytorch_model.bin (its state dict, plus `payload` if given)."""
    folder.mkdir()
    shutil.copy(Path(__file__).parent / "fixtures" / "tokenizers" / "spiece-unigram.model", folder / "spiece.model")
    config = AlbertConfig(vocab_size=40, embedding_size=8, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=8)  # fmt: skip
    torch.manual_seed(0)
    model = AlbertForMaskedLM(config)
    config.save_pretrained(folder)
    torch.save({**model.state_dict(), **({"payload": payload} if payload else {})}, folder / "pytorch_model.bin")
    return model


LOADERS = {
    "load_task_model": lambda folder, tmp_path: load_task_model(folder, "AutoModelForTokenClassification", ["O", "B-PER"]),
    "cut_albert": lambda folder, tmp_path: cut_albert(folder, 1, tmp_path / "student"),
}


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_a_pickle_carrying_code_is_refused_and_never_run(tmp_path, loader):
    marker = tmp_path / "payload-ran"
    tiny_albert(tmp_path / "model", Payload(marker))
    with pytest.raises(ModelLoadError, match="pickled code is never run") as error:
        LOADERS[loader](tmp_path / "model", tmp_path)
    assert str(tmp_path / "model") in str(error.value) and "convert it to safetensors" in str(error.value)
    assert not marker.exists()
    torch.load(tmp_path / "model" / "pytorch_model.bin", weights_only=False)  # full unpickling runs the payload
    assert marker.exists()


def test_a_bin_only_folder_loads_its_tensors_with_a_warning(tmp_path, caplog):
    model = tiny_albert(tmp_path / "model")
    with caplog.at_level(logging.WARNING, logger="speedy.models"):
        loaded = load_task_model(tmp_path / "model", "AutoModelForTokenClassification", ["O", "B-PER"])
    assert "pytorch_model.bin" in caplog.text and "weights_only=True" in caplog.text
    expected = model.albert.state_dict()
    assert all(torch.equal(value, expected[key]) for key, value in loaded.albert.state_dict().items())


def test_safetensors_are_read_and_a_pickle_beside_them_is_not(tmp_path, caplog):
    marker = tmp_path / "payload-ran"
    tiny_albert(tmp_path / "model").save_pretrained(tmp_path / "model")
    torch.save({"payload": Payload(marker)}, tmp_path / "model" / "pytorch_model.bin")
    with caplog.at_level(logging.WARNING, logger="speedy.models"):
        load_task_model(tmp_path / "model", "AutoModelForTokenClassification", ["O", "B-PER"])
        cut_albert(tmp_path / "model", 1, tmp_path / "student")
    assert not marker.exists() and "pytorch_model.bin" not in caplog.text
