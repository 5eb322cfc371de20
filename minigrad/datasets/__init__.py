"""Datasets: MNIST and Fashion-MNIST from standard IDX files; plain-text corpora."""
from . import mnist, text
from .idx import ChecksumError, parse_idx
from .mnist import DataNotFoundError
from .text import load_text

__all__ = ["mnist", "text", "load_text", "ChecksumError", "DataNotFoundError", "parse_idx"]
