"""Deployable students: ONNX and int8 exports scored like eager on each task type, the unfit rule, the card, the table."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch

from conftest import prepare
from speedy import bench
from speedy.config import ConfigError, check_references
from speedy.export import MAX_SCORE_DROP, BenchShape, DeploySettings, card_section, deploy, judge, session, session_outputs, ship
from speedy.models import load_task_model, load_tokenizer
from speedy.tables import deploy_table
from speedy.tasks import TaskSettings, make_task
from speedy.training import featurize_split, model_outputs

SETTINGS = DeploySettings(eval_batch_size=16, eval_threads=1, shape=BenchShape(1, 16), timing=bench.Timing(1, 1, 3, 3.5))
ONE_PER_TASK_TYPE = {"classification": ("xnli", "albeto-tiny"), "token": ("pos", "albeto-base"), "qa": ("sqac", "albeto-tiny")}


def demo_task(config: dict, dataset: str):
    entry = config["datasets"][dataset]
    settings = TaskSettings(max_seq_length=config["max_seq_length"], doc_stride=config["doc_stride"], **config["qa"])
    return make_task(entry["task"], settings, entry.get("labels", []))


@pytest.fixture(scope="module", params=list(ONE_PER_TASK_TYPE))
def deployed(request, data_demo, tmp_path_factory):
    """A tiny ALBERT with a random task head, published like `publish` does and then deployed."""
    dataset, model = ONE_PER_TASK_TYPE[request.param]
    root = tmp_path_factory.mktemp(f"deploy-{dataset}")
    prepare(data_demo, dataset, root / "data")
    task = demo_task(data_demo, dataset)
    source = data_demo["models"][model]["pretrained"]
    torch.manual_seed(0)
    published = root / "published"
    task.save(load_task_model(source, task.auto_model, task.labels), load_tokenizer(source, split_words=task.pre_split), str(published))
    (published / "README.md").write_text("# a published student\n", encoding="utf-8")
    metric = data_demo["datasets"][dataset]["metric"]
    test_split = str(root / "data" / "test.parquet")
    report = deploy(dataset, model, published, test_split, task, metric, SETTINGS, root / "deployable")
    return report, root / "deployable", task, test_split


def test_onnx_scores_as_eager_on_each_task_type(deployed):
    report, _, _, _ = deployed
    variants = report["variants"]
    assert variants["onnx"]["test"] == pytest.approx(variants["eager"]["test"], abs=1e-6)
    assert variants["int8"]["fit"] == (variants["int8"]["difference"] >= -MAX_SCORE_DROP)
    for result in variants.values():
        assert result["latency"]["total"] == SETTINGS.timing.timed_runs and result["latency"]["mean_ms"] > 0
    assert report["bench"]["seq_length"] == 16 and report["bench"]["threads"] == 1


def test_onnx_outputs_equal_eager_outputs_on_padded_batches(deployed):
    _, folder, task, test_split = deployed
    tokenizer = load_tokenizer(folder, split_words=task.pre_split)
    split = featurize_split(task, tokenizer, test_split)
    eager = model_outputs(load_task_model(folder, task.auto_model, task.labels), task, tokenizer, split.features, 16)
    exported = session_outputs(session(folder / "model.onnx", 1), task, tokenizer, split, 16)
    for name in task.outputs:
        assert max(float(np.abs(a - b).max()) for a, b in zip(eager[name], exported[name])) < 1e-4


def test_the_deployable_folder_ships_the_fit_exports_beside_the_weights(deployed):
    report, folder, _, _ = deployed
    files = {path.name for path in folder.iterdir()}
    assert {"model.safetensors", "config.json", "README.md", "model.onnx"} <= files
    assert ("model_int8.onnx" in files) == report["variants"]["int8"]["fit"]
    assert "## ONNX Runtime" in (folder / "README.md").read_text(encoding="utf-8")


def test_the_card_runs_the_shipped_export_with_onnx_runtime(deployed):
    _, folder, task, _ = deployed
    card = (folder / "README.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", card.split("## ONNX Runtime")[1], re.DOTALL)[1]
    scope: dict = {}
    exec(code.replace("<this folder>", str(folder)), scope)  # noqa: S102 - the card's own example
    assert sorted(scope["outputs"]) == sorted(task.outputs)
    assert all(value.shape[0] == 1 for value in scope["outputs"].values())


def test_judge_keeps_a_drop_of_at_most_half_a_point():
    verdicts = judge({"eager": 80.0, "onnx": 80.25, "int8": 79.5})
    assert [verdicts[v]["fit"] for v in ("eager", "onnx", "int8")] == [True, True, True]
    assert judge({"eager": 80.0, "int8": 79.49})["int8"] == {"score": 79.49, "difference": pytest.approx(-0.51), "fit": False}


def hand_made_report(int8_score: float) -> dict:
    scores = {"eager": 80.0, "onnx": 80.0, "int8": int8_score}
    files = {"eager": "model.safetensors", "onnx": "model.onnx", "int8": "model_int8.onnx"}
    variants = {
        variant: {"file": files[variant], "test": {"accuracy": score}, **verdict, "latency": {"mean_ms": ms}, "speedup": 4.0 / ms}
        for (variant, verdict), score, ms in zip(judge(scores).items(), scores.values(), (4.0, 2.0, 1.0))
    }
    return {
        "dataset": "xnli", "model": "albeto-tiny", "task": "classification", "metric": "accuracy", "main": "accuracy",
        "max_score_drop": MAX_SCORE_DROP, "variants": variants,
        "bench": {"batch_size": 1, "seq_length": 64, "threads": 1, "cpu": "a CPU", "onnxruntime": "1.0"},
    }  # fmt: skip


def test_an_unfit_variant_is_not_copied_into_the_model_folder(tmp_path):
    published, scratch = tmp_path / "published", tmp_path / "scratch"
    published.mkdir(), scratch.mkdir()
    (published / "model.safetensors").write_bytes(b"weights")
    (published / "README.md").write_text("# card\n", encoding="utf-8")
    exported = {"onnx": scratch / "a.onnx", "int8": scratch / "b.onnx"}
    for path in exported.values():
        path.write_bytes(b"graph")
    shipped = ship(hand_made_report(int8_score=79.25), exported, published, ["logits"], tmp_path / "deployable")
    assert shipped == ["model.onnx"]
    assert sorted(p.name for p in (tmp_path / "deployable").iterdir()) == ["README.md", "model.onnx", "model.safetensors"]
    card = (tmp_path / "deployable" / "README.md").read_text(encoding="utf-8")
    assert "| int8 | model_int8.onnx | 79.25 | -0.75 | 1.00 | 4.00 | no (unfit) |" in card
    assert '"<this folder>/model.onnx"' in card


def test_a_card_without_a_fit_export_shows_no_usage():
    report = hand_made_report(int8_score=70.0)
    report["variants"]["onnx"]["fit"] = False
    assert "```python" not in card_section(report, ["logits"]) and "none ships" in card_section(report, ["logits"])


def test_the_deploy_table_marks_unfit_variants():
    table = deploy_table([hand_made_report(int8_score=79.25), {**hand_made_report(int8_score=80.5), "dataset": "pawsx"}])
    assert list(table["status"]) == ["reference", "shipped", "unfit", "reference", "shipped", "shipped"]
    assert list(table["Δ vs eager"]) == [0.0, 0.0, -0.75, 0.0, 0.0, 0.5]
    assert list(table["speedup"])[:3] == [1.0, 2.0, 4.0]
    with pytest.raises(ValueError, match=r"xnli/albeto-tiny\) lacks key\(s\) \['variants'\]"):
        deploy_table([{key: value for key, value in hand_made_report(80.0).items() if key != "variants"}])


def test_export_entries_must_name_datasets_and_students(data_demo):
    config = copy.deepcopy(data_demo)
    config["export"] = [{"dataset": "xnli", "students": ["albeto-tiny", "beto-cased"]}, {"dataset": "squad", "students": ["albeto-tiny"]}]
    config["export"].append({"dataset": "xnli", "students": ["albeto-tiny"]})
    with pytest.raises(ConfigError) as error:
        check_references(config)
    message = str(error.value)
    assert "export[0].students: 'beto-cased' is not a student" in message
    assert "export[1].dataset: 'squad' is not under `datasets`" in message
    assert "export[2]: 'albeto-tiny' on 'xnli' is listed twice" in message
