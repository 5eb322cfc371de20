"""Datasets: MNIST and Fashion-MNIST from standard IDX files."""
from . import mnist
from .idx import ChecksumError, parse_idx
from .mnist import DataNotFoundError

__all__ = ["mnist", "ChecksumError", "DataNotFoundError", "parse_idx"]
