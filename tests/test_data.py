"""DataLoader and TensorDataset."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.data import DataLoader, Dataset, TensorDataset


def test_batches_cover_the_data_in_order():
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.arange(10)
    batches = list(DataLoader((x, y), batch_size=4))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    assert isinstance(batches[0][0], mg.Tensor)
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), y)


def test_drop_last_and_len():
    dl = DataLoader(np.zeros((10, 2)), batch_size=4, drop_last=True)
    assert len(dl) == 2 and [b.shape for b in dl] == [(4, 2), (4, 2)]
    assert len(DataLoader(np.zeros((10, 2)), batch_size=4)) == 3
    assert len(list(DataLoader(np.zeros((3, 2)), batch_size=64))) == 1


def test_shuffle_is_seeded_and_a_permutation():
    x = np.arange(20)
    a = np.concatenate([b.numpy() for b in DataLoader(x, batch_size=6, shuffle=True, seed=1)])
    b = np.concatenate([b.numpy() for b in DataLoader(x, batch_size=6, shuffle=True, seed=1)])
    c = np.concatenate([b.numpy() for b in DataLoader(x, batch_size=6, shuffle=True, seed=2)])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and sorted(a) == list(range(20))
    mg.manual_seed(3)
    d = np.concatenate([b.numpy() for b in DataLoader(x, batch_size=6, shuffle=True)])
    mg.manual_seed(3)
    e = np.concatenate([b.numpy() for b in DataLoader(x, batch_size=6, shuffle=True)])
    np.testing.assert_array_equal(d, e)


def test_device_and_custom_dataset(device):
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, idx):
            idx = np.arange(5)[idx]
            return (idx.astype(np.float32) ** 2,)

    (batch,) = next(iter(DataLoader(Squares(), batch_size=5, device=device)))
    assert batch.device == mg.device(device)
    np.testing.assert_array_equal(batch.numpy(), [0, 1, 4, 9, 16])


def test_errors():
    with pytest.raises(ValueError, match="array 0 has 3 samples but array 1 has 2"):
        TensorDataset(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(np.zeros(3), batch_size=0)
