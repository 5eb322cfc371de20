"""Optimizers and learning-rate schedules."""
from .clip import clip_grad_norm, clip_grad_norm_, global_norm, weight_decay_groups
from .loss_scale import LossScaleOptimizer
from .optimizers import SGD, Adam, AdamW, Optimizer, RMSprop, get
from .schedules import (CosineDecay, ExponentialDecay, LearningRateSchedule,
                        PiecewiseConstantDecay, StepDecay)

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "get", "LearningRateSchedule",
           "ExponentialDecay", "StepDecay", "CosineDecay", "PiecewiseConstantDecay",
           "clip_grad_norm", "clip_grad_norm_", "global_norm", "weight_decay_groups",
           "LossScaleOptimizer"]
