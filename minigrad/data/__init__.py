"""Batching for explicit training loops: Dataset, TensorDataset, DataLoader."""
from .loader import DataLoader, Dataset, TensorDataset

__all__ = ["Dataset", "TensorDataset", "DataLoader"]
