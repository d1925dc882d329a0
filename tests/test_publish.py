"""Publishing a grid's best point (scored with the dataset's metric), and the teacher module: selection and cache key."""

from __future__ import annotations

import json

import pytest

from speedy.publish import PRUNED, publish_best
from speedy.tasks import TaskSettings, make_task
from speedy.teacher import cache_key, read_teachers, select_teachers


def grid_point(tmp_path, name, selection_loss, predictions):
    """A grid point's folder: metrics.json, predictions.json and model/ (accuracy task, references a=1, b=0)."""
    folder = tmp_path / name
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "model.safetensors").write_bytes(name.encode())
    metrics = {
        "dataset": "xnli", "model": "beto-cased", "task": "classification", "grid": {"batch_size": 16, "lr": name},
        "validation": {"loss": selection_loss + 1, "selection_loss": selection_loss}, "selected_by": "validation loss",
        "usage": "pipe = pipeline(...)", "epochs_trained": 2.0, "train_loss": 0.5,
    }  # fmt: skip
    (folder / "metrics.json").write_text(json.dumps(metrics))
    split = {"predictions": predictions, "references": {"a": 1, "b": 0}}
    (folder / "predictions.json").write_text(json.dumps({"validation": split, "test": split}))
    return str(folder)


def test_publish_keeps_the_lowest_selection_loss_and_scores_it(tmp_path):
    runs = [
        grid_point(tmp_path, "p0", 0.9, {"a": 1, "b": 0}),
        grid_point(tmp_path, "p1", 0.4, {"a": 1, "b": 1}),
        grid_point(tmp_path, "p2", 0.6, {"a": 0, "b": 1}),
    ]
    out = tmp_path / "published"
    scores = publish_best(runs, "finetuned", "accuracy", "dccuchile/bert", str(out), str(tmp_path / "s.json"))
    assert scores["grid"]["lr"] == "p1" and scores["kind"] == "finetuned" and scores["metric"] == "accuracy"
    assert scores["validation"] == {"loss": 1.4, "selection_loss": 0.4, "accuracy": 50.0}
    assert scores["test"] == {"accuracy": 50.0}
    assert (out / "model.safetensors").read_bytes() == b"p1"
    assert json.loads((out / "test_predictions.json").read_text()) == {"a": 1, "b": 1}
    card = (out / "README.md").read_text()
    assert "xnli" in card and "lr=p1" in card and "base_model: dccuchile/bert" in card and "pipe = pipeline" in card
    assert json.loads((tmp_path / "s.json").read_text()) == scores


def test_only_the_best_grid_point_keeps_its_weights_and_a_grown_grid_republishes(tmp_path):
    runs = [grid_point(tmp_path, "p0", 0.9, {"a": 1, "b": 0}), grid_point(tmp_path, "p1", 0.4, {"a": 1, "b": 1})]
    (tmp_path / "p0" / ".snakemake_timestamp").touch()  # Snakemake's time stamp of the point's directory output
    publish_best(runs, "finetuned", "accuracy", "b", str(tmp_path / "out1"), str(tmp_path / "s1.json"))
    assert sorted(p.name for p in (tmp_path / "p0").iterdir()) == [".snakemake_timestamp", "metrics.json", "model", "predictions.json"]
    assert [p.name for p in (tmp_path / "p0" / "model").iterdir()] == [PRUNED]
    assert "lr=p1" in (tmp_path / "p0" / "model" / PRUNED).read_text()
    assert (tmp_path / "p1" / "model" / "model.safetensors").samefile(tmp_path / "out1" / "model.safetensors")
    # a new learning rate: only the new point trained; the old best still has its weights, and wins again
    runs.append(grid_point(tmp_path, "p2", 0.6, {"a": 0, "b": 1}))
    scores = publish_best(runs, "finetuned", "accuracy", "b", str(tmp_path / "out2"), str(tmp_path / "s2.json"))
    assert scores["grid"]["lr"] == "p1" and (tmp_path / "out2" / "model.safetensors").read_bytes() == b"p1"
    assert (tmp_path / "p2" / "model" / PRUNED).exists()


def test_a_best_grid_point_without_weights_names_its_training_job(tmp_path):
    runs = [grid_point(tmp_path, "p0", 0.9, {"a": 1, "b": 0}), grid_point(tmp_path, "p1", 0.4, {"a": 1, "b": 1})]
    publish_best(runs[::-1], "finetuned", "accuracy", "b", str(tmp_path / "out1"), str(tmp_path / "s1.json"))
    (tmp_path / "p1" / "metrics.json").write_text((tmp_path / "p1" / "metrics.json").read_text().replace("0.4", "0.95"))
    with pytest.raises(FileNotFoundError, match="re-run its training job"):
        publish_best(runs, "finetuned", "accuracy", "b", str(tmp_path / "out2"), str(tmp_path / "s2.json"))


def candidate(tmp_path, model, loss):
    folder = tmp_path / "models" / model
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(model.encode())
    (folder / "tokenizer.json").write_text("{}")
    path = tmp_path / f"{model}.json"
    path.write_text(json.dumps({"dataset": "ner", "model": model, "grid": {"epochs": 2},
                                "validation": {"selection_loss": loss}, "selected_by": "validation loss"}))  # fmt: skip
    return str(path), str(folder)


def test_teachers_are_the_lowest_selection_losses_with_their_hashes(tmp_path):
    runs = [candidate(tmp_path, m, loss) for m, loss in (("beto-cased", 0.5), ("albeto-tiny", 0.3), ("roberta", 0.7))]
    selection = select_teachers("ner", [s for s, _ in runs], [d for _, d in runs], 2, str(tmp_path / "ner.json"))
    teachers = read_teachers(tmp_path / "ner.json")
    assert [t.model for t in teachers] == ["albeto-tiny", "beto-cased"]
    assert teachers[0].path == runs[1][1] and teachers[0].selection_loss == 0.3
    assert teachers[0].weights_sha256 != teachers[1].weights_sha256 and len(teachers[0].weights_sha256) == 64
    assert list(selection["candidates"]) == ["albeto-tiny", "beto-cased", "roberta"]


def test_cache_key_follows_weights_data_and_settings(tmp_path):
    runs = [candidate(tmp_path, m, loss) for m, loss in (("beto-cased", 0.5), ("albeto-tiny", 0.3))]
    select_teachers("ner", [s for s, _ in runs], [d for _, d in runs], 2, str(tmp_path / "ner.json"))
    best, second = read_teachers(tmp_path / "ner.json")
    data = tmp_path / "train.parquet"
    data.write_bytes(b"one")
    task = make_task("token", TaskSettings(max_seq_length=64, doc_stride=16), ["O"])
    key = cache_key(best, data, task)
    assert key == cache_key(best, data, task)
    assert cache_key(second, data, task)["teacher_weights"] != key["teacher_weights"]
    assert cache_key(best, data, make_task("token", TaskSettings(max_seq_length=64, doc_stride=32), ["O"])) != key
    assert cache_key(best, data, make_task("token", TaskSettings(max_seq_length=64, doc_stride=16, n_best=3), ["O"])) == key
    data.write_bytes(b"two")
    assert cache_key(best, data, task)["data"] != key["data"]
