"""The question-answering pipeline that QA models are saved with gives the workflow's own predictions."""

from __future__ import annotations

import json

import datasets
import pytest
from transformers import pipeline

from speedy.models import load_task_model, load_tokenizer
from speedy.qa_pipeline import TASK
from speedy.tasks import TaskSettings, make_task
from speedy.training import model_outputs

from conftest import source_split

# Short windows so that every context spans several of them.
SETTINGS = TaskSettings(max_seq_length=48, doc_stride=16, n_best=5, max_answer_length=8)
QA_MODEL = "AutoModelForQuestionAnswering"


@pytest.fixture(scope="module")
def saved_qa_model(data_demo, tmp_path_factory):
    """A demo BERT with a (random) QA head, saved as the workflow saves QA models."""
    source = data_demo["models"]["beto-cased"]["pretrained"]
    folder = tmp_path_factory.mktemp("qa-model")
    make_task("qa", SETTINGS).save(load_task_model(source, QA_MODEL), load_tokenizer(source), str(folder))
    return folder


def test_saved_model_carries_the_pipeline(saved_qa_model):
    config = json.loads((saved_qa_model / "config.json").read_text())
    assert config["custom_pipelines"][TASK]["impl"] == "qa_pipeline.QuestionAnsweringPipeline"
    assert config["task_specific_params"][TASK] == {"max_seq_len": 48, "doc_stride": 16, "n_best": 5, "max_answer_len": 8}
    assert (saved_qa_model / "qa_pipeline.py").exists()


def test_pipeline_answers_as_the_workflow_does(saved_qa_model, data_demo):
    examples = datasets.Dataset.from_pandas(source_split(data_demo, "sqac", "test").head(12), preserve_index=False)
    task = make_task("qa", SETTINGS, [])
    tokenizer = load_tokenizer(saved_qa_model)
    features = task.featurize(examples, tokenizer)
    assert len(features.example_ids) > len(examples), "the contexts should need several windows"
    outputs = model_outputs(load_task_model(saved_qa_model, QA_MODEL), task, tokenizer, features, batch_size=8)
    expected = task.predictions(outputs, features, examples)

    qa = pipeline(TASK, model=str(saved_qa_model), trust_remote_code=True, device="cpu")
    answers = qa([{"question": q, "context": c} for q, c in zip(examples["question"], examples["context"])])
    assert [a["answer"] for a in answers] == expected
    single = qa(question=examples["question"][0], context=examples["context"][0])
    assert single["answer"] == expected[0] and examples["context"][0][single["start"] : single["end"]] == expected[0]


def test_pipeline_refuses_input_without_a_context(saved_qa_model):
    qa = pipeline(TASK, model=str(saved_qa_model), trust_remote_code=True, device="cpu")
    with pytest.raises(ValueError, match="question-answering takes"):
        qa({"question": "¿Quién?"})
