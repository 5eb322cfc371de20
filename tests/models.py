"""Models shared by several test files."""
import minigrad as mg
from minigrad.keras import layers, models


def article_cnn(fuse=True, seed=None):
    """The seed article's CNN (Keras layers, MNIST-shaped input)."""
    if seed is not None:
        mg.manual_seed(seed)
    return models.Sequential([
        layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ], fuse=fuse)
