"""Shared fixtures: the demo world built once per test session under a temporary folder."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from speedy.demo.data import write_demo_corpus, write_demo_dataset
from speedy.demo.models import Pretraining, build_demo_model

DEMO_CONFIG = yaml.safe_load((Path(__file__).parents[1] / "config" / "demo.yaml").read_text(encoding="utf-8"))


def demo_config(root: Path) -> dict:
    """config/demo.yaml with its results/ paths moved under `root`."""
    config = copy.deepcopy(DEMO_CONFIG)
    for entry in config["datasets"].values():
        for spec in entry["splits"].values():
            spec["path"] = str(root / spec["path"])
    for entry in config["models"].values():
        entry["pretrained"] = str(root / entry["pretrained"])
    return config


@pytest.fixture(scope="session")
def data_demo(tmp_path_factory) -> dict:
    """The demo datasets and models, built once under a temporary folder (a smaller corpus, 3 pre-training steps)."""
    root = tmp_path_factory.mktemp("demo")
    config = demo_config(root)
    for dataset, entry in config["datasets"].items():
        for split, spec in entry["splits"].items():
            write_demo_dataset(dataset, split, spec["path"], spec["format"], config["seed"])
    formats = {dataset: entry["splits"]["train"]["format"] for dataset, entry in config["datasets"].items()}
    write_demo_corpus(formats, 100, root / "corpus.txt", config["seed"])
    pretraining = Pretraining(**{**config["world"]["pretraining"], "steps": 3})
    for entry in config["models"].values():
        build_demo_model(entry["family"], entry["arch"], root / "corpus.txt", pretraining, entry["pretrained"], config["seed"])
    return config




def source_split(config: dict, dataset: str, split: str, report=None):
    """One split of a config's dataset read from its source, as prepare_data reads it."""
    from speedy.data import DatasetSpec, read_source_split

    return read_source_split(DatasetSpec.from_entry(dataset, config["datasets"][dataset]), split, report)


def prepare(config: dict, dataset: str, out_dir):
    """prepare_data on one dataset of a config."""
    from speedy.data import DatasetSpec, prepare_dataset

    return prepare_dataset(DatasetSpec.from_entry(dataset, config["datasets"][dataset]), out_dir)
