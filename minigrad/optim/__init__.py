"""Optimizers and learning-rate schedules."""
from .optimizers import SGD, Adam, AdamW, Optimizer, RMSprop, get
from .schedules import (CosineDecay, ExponentialDecay, LearningRateSchedule,
                        PiecewiseConstantDecay, StepDecay)

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "get", "LearningRateSchedule",
           "ExponentialDecay", "StepDecay", "CosineDecay", "PiecewiseConstantDecay"]
