"""The seed article's CNN on MNIST, run on minigrad.

Only the import lines differ from the article's Keras program (plus one line that says
which data was used). With the full MNIST available (``$MINIGRAD_DATA/mnist/``, the user
cache, or a download) it trains on 60,000 images; offline it falls back to the 6,000-image
sample bundled with minigrad.

    python examples/mnist_cnn.py
"""
import minigrad as tf
from minigrad.keras import layers, models
from minigrad.keras.datasets import mnist
import numpy as np

(x_train, y_train), (x_test, y_test) = mnist.load_data()
print(f"Data: MNIST {tf.datasets.mnist.data_source['mnist']} "
      f"({len(x_train)} train / {len(x_test)} test images)")
x_train = x_train.reshape((-1, 28, 28, 1)).astype(np.float32) / 255.0
x_test = x_test.reshape((-1, 28, 28, 1)).astype(np.float32) / 255.0
y_train = tf.keras.utils.to_categorical(y_train, 10)
y_test = tf.keras.utils.to_categorical(y_test, 10)

model = models.Sequential([
    layers.Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1)),
    layers.MaxPooling2D((2, 2)),
    layers.Conv2D(64, (3, 3), activation='relu'),
    layers.MaxPooling2D((2, 2)),
    layers.Conv2D(64, (3, 3), activation='relu'),
    layers.Flatten(),
    layers.Dense(64, activation='relu'),
    layers.Dense(10, activation='softmax')
])
model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
model.fit(x_train, y_train, batch_size=64, epochs=10, validation_data=(x_test, y_test))
test_loss, test_acc = model.evaluate(x_test, y_test)
print(f"Test accuracy: {test_acc}")
