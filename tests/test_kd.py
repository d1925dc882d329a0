"""The KD loss against hand-computed values, and the loss mix in the Trainer subclass."""

import math

import pytest
import torch

from speedy.kd import kd_loss

# teacher logits [0, 0] -> p_t = [1/2, 1/2]; student logits [0, ln 3] -> p_s = [1/4, 3/4]
TEACHER = torch.tensor([[0.0, 0.0]])
STUDENT = torch.tensor([[0.0, math.log(3.0)]])


def test_kl_by_hand():
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)  # = 0.5 ln(4/3)
    assert kd_loss(STUDENT, TEACHER, "kl").item() == pytest.approx(expected, abs=1e-6)


def test_soft_ce_by_hand():
    expected = -(0.5 * math.log(0.25) + 0.5 * math.log(0.75))
    assert kd_loss(STUDENT, TEACHER, "ce").item() == pytest.approx(expected, abs=1e-6)


def test_mse_by_hand():
    assert kd_loss(STUDENT, TEACHER, "mse").item() == pytest.approx(math.log(3.0) ** 2 / 2, abs=1e-6)


def test_kl_temperature_scales_by_t_squared():
    # T = 2: student [0, ln3 / 2] -> p_s = [1 / (1 + sqrt 3), sqrt 3 / (1 + sqrt 3)]
    p_s = [1 / (1 + math.sqrt(3)), math.sqrt(3) / (1 + math.sqrt(3))]
    expected = 4 * (0.5 * math.log(0.5 / p_s[0]) + 0.5 * math.log(0.5 / p_s[1]))
    assert kd_loss(STUDENT, TEACHER, "kl", temperature=2.0).item() == pytest.approx(expected, abs=1e-6)


def test_excluded_teacher_entries_take_no_mass():
    # teacher -inf on the third entry: p_t = [1/2, 1/2, 0]; the student still spreads mass over all three
    student = torch.tensor([[0.0, math.log(3.0), math.log(4.0)]])  # p_s = [1/8, 3/8, 4/8]
    teacher = torch.tensor([[0.0, 0.0, -math.inf]])
    expected = 0.5 * math.log(0.5 / 0.125) + 0.5 * math.log(0.5 / 0.375)
    loss = kd_loss(student, teacher, "kl")
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert kd_loss(student, teacher, "mse").item() == pytest.approx(math.log(3.0) ** 2 / 2, abs=1e-6)


def test_identical_distributions_have_zero_kl_and_gradients_flow():
    student = torch.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    loss = kd_loss(student, torch.tensor([[1.0, 2.0, 3.0]]), "kl")
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    assert torch.allclose(student.grad, torch.zeros(3), atol=1e-6)


def test_rows_are_averaged_and_empty_input_is_zero():
    double = kd_loss(STUDENT.repeat(2, 1), TEACHER.repeat(2, 1), "kl")
    assert double.item() == pytest.approx(kd_loss(STUDENT, TEACHER, "kl").item(), abs=1e-7)
    assert kd_loss(torch.zeros(0, 3), torch.zeros(0, 3)).item() == 0.0


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="unknown KD loss"):
        kd_loss(STUDENT, TEACHER, "cosine")


def test_distillation_trainer_joins_the_teacher_on_training_batches_only(data_demo, tmp_path):
    """Training features carry a feature index, so their batches get the cached teacher under `teacher`; validation
    features carry none, so their batches and their loss are the student's alone (gold CE)."""
    import datasets

    from speedy.kd import TEACHER, CachedTeacher, KDSettings
    from speedy.models import load_task_model, load_tokenizer
    from speedy.tasks import TaskSettings, make_task
    from speedy.training import GridJob, Schedule, Split, TrainSettings, make_trainer

    source = data_demo["models"]["albeto-tiny"]["pretrained"]
    tokenizer = load_tokenizer(source)
    task = make_task("classification", TaskSettings(max_seq_length=32), ["a", "b"])
    train = datasets.Dataset.from_dict({"id": ["t0", "t1", "t2"], "text": ["uno", "dos", "tres"], "label": [0, 1, 0]})
    validation = datasets.Dataset.from_dict({"id": ["v0", "v1"], "text": ["cuatro", "cinco"], "label": [1, 0]})
    teacher = CachedTeacher({"t0": {"logits": [2.0, 0.0]}, "t1": {"logits": [0.0, 2.0]}, "t2": {"logits": [1.0, 1.0]}})
    model = load_task_model(source, task.auto_model, task.labels)
    settings = TrainSettings(seed=1, weight_decay=0.0, warmup_ratio=0.0, eval_batch_size=2, logging_steps=1)
    job = GridJob("d", "albeto-tiny", source, task, settings, Schedule(3, 1e-3, 1), {}, teacher=teacher,
                  kd=KDSettings(alpha=0.25, temperature=2.0, loss="kl"))  # fmt: skip
    splits = [Split(examples, task.featurize(examples, tokenizer)) for examples in (train, validation)]
    trainer = make_trainer(job, tokenizer, model, *splits, str(tmp_path))
    train_batch = next(iter(trainer.get_train_dataloader()))
    rows = {tuple(r) for r in train_batch[TEACHER]["logits"].tolist()}
    assert rows == {(2.0, 0.0), (0.0, 2.0), (1.0, 1.0)}
    eval_batch = next(iter(trainer.get_eval_dataloader()))
    assert TEACHER not in eval_batch

    model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(model, dict(train_batch))
        outputs = model(**{k: v for k, v in train_batch.items() if k != TEACHER})
    expected = 0.25 * outputs.loss + 0.75 * kd_loss(outputs.logits, train_batch[TEACHER]["logits"], "kl", 2.0)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    with torch.no_grad():
        assert trainer.compute_loss(model, dict(eval_batch)).item() == pytest.approx(model(**eval_batch).loss.item(), rel=1e-5)
