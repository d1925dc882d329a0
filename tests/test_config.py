"""Config validation: the schema and the cross-references, for the paper and the demo configs."""

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from speedy.config import ConfigError, check_references, finetune_grid, model_entry, student_names

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "workflow/schemas/config.schema.yaml")


def load(name):
    return yaml.safe_load((ROOT / name).read_text())


@pytest.mark.parametrize("name", ["config.yaml", "config/demo.yaml"])
def test_shipped_configs_are_valid(name):
    config = load(name)
    validate(config, SCHEMA)
    check_references(config)


def test_demo_config_has_the_paper_shape():
    paper, demo = load("config.yaml"), load("config/demo.yaml")
    assert set(demo) - {"world"} == set(paper)  # the demo also builds its world: corpus and pre-training
    assert set(demo["datasets"]) == set(paper["datasets"])
    for name, entry in demo["datasets"].items():
        assert entry["task"] == paper["datasets"][name]["task"]
        assert entry.get("labels") == paper["datasets"][name].get("labels")
    assert {m["family"] for m in demo["models"].values()} == {"bert", "distilbert", "albert", "roberta"}


def test_unknown_key_is_named():
    config = load("config.yaml")
    config["distillation"]["temprature"] = 2.0
    with pytest.raises(WorkflowError, match="temprature"):
        validate(config, SCHEMA)


def test_wrong_type_is_named():
    config = load("config.yaml")
    config["max_seq_length"] = "512"
    with pytest.raises(WorkflowError, match="'512' is not of type 'integer'"):
        validate(config, SCHEMA)


def test_unknown_format_is_refused():
    config = load("config/demo.yaml")
    config["datasets"]["mldoc"]["splits"]["train"]["format"] = "csv"
    with pytest.raises(WorkflowError):
        validate(config, SCHEMA)


def test_cross_references_are_checked_together():
    config = copy.deepcopy(load("config.yaml"))
    config["candidates"].append("gpt-2")
    config["distillation"]["timing"]["dataset"] = "squad"
    with pytest.raises(ConfigError) as error:
        check_references(config)
    assert "'gpt-2' is not under `models`" in str(error.value)
    assert "distillation.timing.dataset: 'squad'" in str(error.value)


def test_students_and_grids_of_the_paper():
    config = load("config.yaml")
    assert student_names(config["students"]) == ["albeto-tiny"] + [f"albeto-base-{n}" for n in (2, 4, 6, 8, 10)]
    assert model_entry(config["models"], config["students"], "albeto-base-6")["arch"]["num_hidden_layers"] == 6
    grids = config["finetune"]["grids"]
    assert len(finetune_grid(grids[config["models"]["beto-cased"]["lr_group"]])) == 36
    large = finetune_grid(grids[config["models"]["albeto-xxlarge"]["lr_group"]])
    assert {p["learning_rate"] for p in large} == {1e-6, 2e-6, 3e-6, 5e-6}


def test_planning_refuses_what_would_fail_in_a_job():
    config = copy.deepcopy(load("config/demo.yaml"))
    config["datasets"]["ner"]["splits"]["train"]["format"] = "squad_json"
    config["students"]["layers"] = [10]
    config["max_seq_length"], config["doc_stride"], config["qa"]["max_question_length"] = 64, 32, 32
    config["distillation"]["teachers"] = 9
    config["study"]["student"] = "beto-cased"
    with pytest.raises(ConfigError) as error:
        check_references(config)
    message = str(error.value)
    assert "datasets.ner.splits.train.format: 'squad_json' holds no token data" in message
    assert "students.layers: 10 is more than the 4 layers of 'albeto-base'" in message
    assert "max_seq_length 64, doc_stride 32 and qa.max_question_length 32 leave no context" in message
    assert "distillation.teachers: 9 teachers, but only 5 candidates" in message
    assert "study.student: 'beto-cased' is not a student" in message


def test_models_built_under_the_results_folder_need_a_world_block():
    config = load("config/demo.yaml")
    del config["world"]
    with pytest.raises(ConfigError, match="need a `world` block"):
        check_references(config)
