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
