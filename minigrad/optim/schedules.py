"""Learning-rate schedules: callables ``step -> learning rate`` (Keras names)."""
from __future__ import annotations

import math

from ..checks import number, positive_int

__all__ = ["LearningRateSchedule", "ExponentialDecay", "StepDecay", "CosineDecay",
           "PiecewiseConstantDecay"]


class LearningRateSchedule:
    """Base class: ``schedule(step)`` returns the learning rate for optimizer step ``step``
    (counted from 0)."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError


class ExponentialDecay(LearningRateSchedule):
    """lr = initial * decay_rate ^ (step / decay_steps) (floored when ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        self.initial = number(initial_learning_rate, "ExponentialDecay",
                              "initial_learning_rate", low=0.0)
        self.steps = positive_int(decay_steps, "ExponentialDecay", "decay_steps")
        self.rate = number(decay_rate, "ExponentialDecay", "decay_rate", low=0.0)
        self.staircase = staircase

    def __call__(self, step):
        p = step / self.steps
        if self.staircase:
            p = math.floor(p)
        return self.initial * self.rate ** p


class StepDecay(LearningRateSchedule):
    """lr = initial * gamma ^ floor(step / step_size)  (PyTorch's StepLR)."""

    def __init__(self, initial_learning_rate, step_size, gamma=0.1):
        self.initial = number(initial_learning_rate, "StepDecay", "initial_learning_rate",
                              low=0.0)
        self.step_size = positive_int(step_size, "StepDecay", "step_size")
        self.gamma = number(gamma, "StepDecay", "gamma", low=0.0)

    def __call__(self, step):
        return self.initial * self.gamma ** (step // self.step_size)


class CosineDecay(LearningRateSchedule):
    """lr = alpha_lr + (initial - alpha_lr) (1 + cos(pi min(step, T) / T)) / 2.

    With ``warmup_target`` and ``warmup_steps`` (Keras 3): first a linear warm-up from
    ``initial_learning_rate`` to ``warmup_target`` over ``warmup_steps`` steps, then the
    cosine decay from ``warmup_target`` over the next ``decay_steps`` steps (alpha is then
    a fraction of ``warmup_target``).
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None,
                 warmup_steps: int = 0):
        self.initial = number(initial_learning_rate, "CosineDecay", "initial_learning_rate",
                              low=0.0)
        self.T = positive_int(decay_steps, "CosineDecay", "decay_steps")
        self.alpha = number(alpha, "CosineDecay", "alpha", 0.0, 1.0)
        self.warmup_target = None if warmup_target is None else number(
            warmup_target, "CosineDecay", "warmup_target", low=0.0)
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) \
                or warmup_steps < 0:
            raise ValueError(f"CosineDecay: warmup_steps must be an integer >= 0, got "
                             f"{warmup_steps!r}")
        if warmup_steps and self.warmup_target is None:
            raise ValueError("CosineDecay: warmup_steps needs warmup_target (the learning "
                             "rate the warm-up ends at)")
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        top = self.initial
        if self.warmup_target is not None:
            if step < self.warmup_steps:
                return self.initial + (self.warmup_target - self.initial) * \
                    step / self.warmup_steps
            top, step = self.warmup_target, step - self.warmup_steps
        t = min(step, self.T) / self.T
        cos = 0.5 * (1 + math.cos(math.pi * t))
        return top * ((1 - self.alpha) * cos + self.alpha)


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[i]`` while ``step <= boundaries[i]`` (the last value after)."""

    def __init__(self, boundaries, values):
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay: needs one more value than boundaries, "
                             f"got {len(boundaries)} boundaries and {len(values)} values")
        if list(boundaries) != sorted(boundaries):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must increase, got "
                             f"{list(boundaries)}")
        self.boundaries, self.values = list(boundaries), list(values)

    def __call__(self, step):
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return v
        return self.values[-1]
