"""TensorDataset and DataLoader details (written from mutation-testing survivors)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.data import DataLoader, TensorDataset


def test_tensor_dataset_takes_tensors_and_names_its_problems():
    with pytest.raises(ValueError, match=r"^TensorDataset needs at least one array$"):
        TensorDataset()
    x = mg.tensor(np.arange(6.0).reshape(3, 2))
    ds = TensorDataset(x, np.array([0, 1, 2]))
    assert isinstance(ds.arrays[0], np.ndarray) and ds.arrays[0] is x.data
    xi, yi = ds[1]
    np.testing.assert_array_equal(xi, [2.0, 3.0])
    assert yi == 1 and len(ds) == 3
    with pytest.raises(ValueError, match=r"^TensorDataset: array 0 has 3 samples but array 1 "
                                         r"has 2$"):
        TensorDataset(x, np.array([0, 1]))


def test_batches_in_order_and_shuffled_cover_the_data():
    x = np.arange(10.0).reshape(5, 2)
    y = np.arange(5)
    batches = list(DataLoader((x, y), batch_size=2))
    assert [b[1].numpy().tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    mg.manual_seed(0)
    seen = np.concatenate([b[1].numpy() for b in DataLoader((x, y), batch_size=2,
                                                             shuffle=True)])
    assert sorted(seen.tolist()) == [0, 1, 2, 3, 4]
    for xb, yb in DataLoader((x, y), batch_size=3, shuffle=True):
        np.testing.assert_array_equal(xb.numpy()[:, 0], 2 * yb.numpy())   # rows stay paired


def test_the_default_batch_size_is_32():
    x = np.zeros((33, 2))
    assert [len(b[0]) for b in DataLoader((x,))] == [32, 1]
