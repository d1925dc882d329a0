"""Students cut from ALBERT base, hub-or-folder loading errors, publishing the best grid point, teacher choice."""

from __future__ import annotations

import pytest
from transformers import AutoModelForMaskedLM

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
    with pytest.raises(ModelLoadError, match="set the model's `pretrained:` to DIR"):
        load_tokenizer("dccuchile/no-such-model")
    with pytest.raises(ModelLoadError, match="dccuchile/no-such-model"):
        load_task_model("dccuchile/no-such-model", "AutoModelForSequenceClassification", ["a", "b"])
