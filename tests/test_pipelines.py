"""The pipelines that published models carry give the workflow's own predictions: after `import speedy` without
remote code, and with only transformers through the folder's own pipeline file (trust_remote_code)."""

from __future__ import annotations

import json

import datasets
import pytest
from transformers import pipeline

import speedy  # noqa: F401 - registers the pipelines
from speedy import qa_pipeline, word_pipeline
from speedy.models import load_task_model, load_tokenizer
from speedy.tasks import TaskSettings, make_task
from speedy.training import model_outputs

from conftest import source_split

# Short windows so that every context (and every long sentence) spans several of them.
QA_SETTINGS = TaskSettings(max_seq_length=48, doc_stride=16, max_question_length=12, n_best=5, max_answer_length=8)
TOKEN_SETTINGS = TaskSettings(max_seq_length=16, doc_stride=4)
NER = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


@pytest.fixture(scope="module")
def saved_models(data_demo, tmp_path_factory):
    """A demo BERT with a (random) QA head and with a token head, saved as the workflow saves them."""
    source = data_demo["models"]["beto-cased"]["pretrained"]
    folders = {}
    for name, settings, labels in (("qa", QA_SETTINGS, []), ("token", TOKEN_SETTINGS, NER)):
        task = make_task(name, settings, labels)
        folders[name] = tmp_path_factory.mktemp(f"{name}-model")
        tokenizer = load_tokenizer(source, split_words=task.pre_split)
        task.save(load_task_model(source, task.auto_model, task.labels), tokenizer, str(folders[name]))
    return folders


def test_saved_models_carry_their_pipelines(saved_models):
    qa = json.loads((saved_models["qa"] / "config.json").read_text())
    assert qa["custom_pipelines"][qa_pipeline.REMOTE_TASK]["impl"] == "qa_pipeline.QuestionAnsweringPipeline"
    assert qa["task_specific_params"][qa_pipeline.TASK] == {
        "max_seq_len": 48, "doc_stride": 16, "max_question_len": 12, "n_best": 5, "max_answer_len": 8,
    }  # fmt: skip
    token = json.loads((saved_models["token"] / "config.json").read_text())
    assert token["custom_pipelines"][word_pipeline.REMOTE_TASK]["impl"] == "word_pipeline.WordClassificationPipeline"
    assert token["task_specific_params"][word_pipeline.TASK] == {"max_seq_len": 16, "doc_stride": 4}
    assert (saved_models["qa"] / "qa_pipeline.py").exists() and (saved_models["token"] / "word_pipeline.py").exists()


def qa_pipelines(folder):
    """The QA pipeline registered by `import speedy`, and the folder's own through remote code."""
    return [
        pipeline(qa_pipeline.TASK, model=str(folder), device="cpu"),
        pipeline(qa_pipeline.REMOTE_TASK, model=str(folder), trust_remote_code=True, device="cpu"),
    ]


def test_qa_pipeline_answers_as_the_workflow_does_also_for_long_questions(saved_models, data_demo):
    examples = source_split(data_demo, "sqac", "test").head(12)
    examples.loc[0, "question"] = " ".join(["¿Cuál"] + ["de los muchos nombres"] * 12 + ["es el suyo?"])
    examples = datasets.Dataset.from_pandas(examples, preserve_index=False)
    task = make_task("qa", QA_SETTINGS)
    tokenizer = load_tokenizer(saved_models["qa"])
    features = task.featurize(examples, tokenizer)
    assert len(features.example_ids) > len(examples), "the contexts should need several windows"
    model = load_task_model(saved_models["qa"], task.auto_model)
    expected = task.predictions(model_outputs(model, task, tokenizer, features, batch_size=8), features, examples)
    for qa in qa_pipelines(saved_models["qa"]):
        answers = qa([{"question": q, "context": c} for q, c in zip(examples["question"], examples["context"])])
        assert [a["answer"] for a in answers] == expected
        single = qa(question=examples["question"][1], context=examples["context"][1])
        assert single["answer"] == expected[1] and examples["context"][1][single["start"] : single["end"]] == expected[1]


def test_qa_pipeline_refuses_input_without_a_context(saved_models):
    with pytest.raises(ValueError, match="question-answering takes"):
        qa_pipelines(saved_models["qa"])[0]({"question": "¿Quién?"})


def test_questions_are_cut_to_their_maximum_and_settings_without_room_are_refused(data_demo):
    tokenizer = load_tokenizer(data_demo["models"]["beto-cased"]["pretrained"])
    long = "¿" + " ".join(["cuántos"] * 40) + "?"
    questions, cut = qa_pipeline.cut_questions(tokenizer, [long, "¿Dónde?"], 10)
    assert cut == 1 and questions[1] == "¿Dónde?" and long.startswith(questions[0])
    assert len(tokenizer(questions[0], add_special_tokens=False)["input_ids"]) <= 10
    with pytest.raises(ValueError, match="max_seq_length 32, doc_stride 16 and max_question_length 12 leave no context"):
        qa_pipeline.encode_windows(tokenizer, [long], ["Ana vive en Lima."], 32, 16, 12)


def test_word_pipeline_tags_every_word_as_the_workflow_does_also_in_long_sentences(saved_models, data_demo):
    examples = source_split(data_demo, "ner", "test").head(10)
    examples.loc[0, "words"] = list(examples.loc[0, "words"]) * 6  # longer than 16 tokens: several windows
    examples.loc[1, "words"] = ["\ufeff", *examples.loc[1, "words"], "\u200b"]  # words without a sub-token
    examples.loc[0, "tags"] = list(examples.loc[0, "tags"]) * 6
    examples.loc[1, "tags"] = [0, *examples.loc[1, "tags"], 0]
    examples = datasets.Dataset.from_pandas(examples, preserve_index=False)
    task = make_task("token", TOKEN_SETTINGS, NER)
    tokenizer = load_tokenizer(saved_models["token"], split_words=True)
    features = task.featurize(examples, tokenizer)
    assert features.example_ids.count(examples["id"][0]) > 2
    model = load_task_model(saved_models["token"], task.auto_model, NER)
    expected = task.predictions(model_outputs(model, task, tokenizer, features, batch_size=8), features, examples)
    assert [len(p) for p in expected] == [len(words) for words in examples["words"]]
    for tag in (
        pipeline(word_pipeline.TASK, model=str(saved_models["token"]), device="cpu"),
        pipeline(word_pipeline.REMOTE_TASK, model=str(saved_models["token"]), trust_remote_code=True, device="cpu"),
    ):
        for words, labels in zip(examples["words"], expected):
            tagged = tag(words)
            assert [t["word"] for t in tagged] == words and [t["entity"] for t in tagged] == labels
