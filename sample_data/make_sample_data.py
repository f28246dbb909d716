"""Build igcli's bundled sample data, deterministically, on a CPU in well under two minutes.

    python sample_data/make_sample_data.py

shapes/  64x64 images of one coloured circle, square or triangle on a noisy background, a small
         CNN trained to name the shape (.keras, .h5, SavedModel), 24 held-out PNGs and their boxes.
table/   a 6-feature table whose label depends on f1 and f4 only, and a tiny classifier.
text/    synthetic reviews whose sentiment words decide the label, a tiny embedding classifier.
"""

import json
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

HERE = Path(__file__).resolve().parent
CLASSES = ("circle", "square", "triangle")
SIZE = 64


def draw_shape(rng: np.random.Generator, label: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """One uint8 image and the shape's bounding box (x0, y0, x1, y1), end exclusive."""
    background = rng.uniform(30, 90)
    image = np.clip(background + rng.normal(0, 12, size=(SIZE, SIZE, 3)), 0, 255)
    radius = int(rng.integers(8, 19))
    cy, cx = (int(v) for v in rng.integers(radius + 1, SIZE - radius - 1, size=2))
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    if label == 0:
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    elif label == 1:
        mask = (np.abs(yy - cy) <= radius) & (np.abs(xx - cx) <= radius)
    else:  # apex up, base at cy + radius; half-width grows linearly to the base
        rows = yy - (cy - radius)
        mask = (rows >= 0) & (rows <= 2 * radius) & (np.abs(xx - cx) <= rows / 2)
    colour = rng.uniform(140, 255, size=3)
    colour[rng.integers(3)] = rng.uniform(0, 80)  # a saturated colour, never grey
    image[mask] = colour
    ys, xs = np.nonzero(mask)
    return image.astype(np.uint8), (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def make_shapes(count: int, seed: int):
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % len(CLASSES)
    rng.shuffle(labels)
    drawn = [draw_shape(rng, int(label)) for label in labels]
    images = np.stack([image for image, _ in drawn])
    boxes = np.array([box for _, box in drawn], np.int64)
    return images, labels.astype(np.int64), boxes


def train_shapes_model(images: np.ndarray, labels: np.ndarray) -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3), name="image"),
            keras.layers.Conv2D(16, 3, activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(name="pool1"),
            keras.layers.Conv2D(32, 3, activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(name="pool2"),
            keras.layers.Conv2D(32, 3, activation="relu", name="conv3"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(len(CLASSES), activation="softmax", name="probs"),
        ],
        name="shapes_cnn",
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(images.astype(np.float32) / 255, labels, epochs=12, batch_size=32, verbose=0)
    return model


def save_shapes(model: keras.Model, images: np.ndarray, labels: np.ndarray, boxes: np.ndarray) -> None:
    folder = HERE / "shapes"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    model.save(folder / "model.h5")
    model.export(folder / "savedmodel", verbose=False)
    (folder / "class_names.txt").write_text("\n".join(CLASSES) + "\n")
    ids, per_class = [], {name: 0 for name in CLASSES}
    for image, label in zip(images, labels):
        name = CLASSES[label]
        ids.append(f"{name}_{per_class[name]:02d}")
        per_class[name] += 1
        Image.fromarray(image).save(folder / "images" / f"{ids[-1]}.png")
    np.savez_compressed(folder / "images.npz", x=images.astype(np.float32) / 255, labels=labels, boxes=boxes, ids=np.array(ids))
    table = {ident: {"box": box.tolist(), "label": int(label)} for ident, box, label in zip(ids, boxes, labels)}
    (folder / "boxes.json").write_text(json.dumps(table, indent=1) + "\n")


def save_minus_one_model(model: keras.Model) -> None:
    """shapes/model_minus1.keras: the same CNN for pixels scaled to -1..1, as a model trained on
    such images would be, with no layer that says so. Its first convolution ('valid' padding)
    absorbs x = (y + 1) / 2: W x + b = (W / 2) y + (b + sum(W) / 2)."""
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    kernel, bias = clone.layers[0].get_weights()
    clone.layers[0].set_weights([kernel / 2, bias + kernel.sum(axis=(0, 1, 2)) / 2])
    clone.save(Path(__file__).parent / "shapes" / "model_minus1.keras")


def make_table(rows: int, seed: int):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 6))
    labels = (1.5 * features[:, 1] - 1.0 * features[:, 4] + rng.normal(0, 0.1, rows) > 0).astype(np.int64)
    return features.round(4), labels


def train_table_model(features: np.ndarray, labels: np.ndarray) -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((6,), name="features"),
            keras.layers.Dense(16, activation="relu", name="hidden"),
            keras.layers.Dense(2, activation="softmax", name="probs"),
        ],
        name="table_mlp",
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(features.astype(np.float32), labels, epochs=60, batch_size=32, verbose=0)
    return model


def save_table(model: keras.Model, features: np.ndarray, labels: np.ndarray) -> None:
    folder = HERE / "table"
    folder.mkdir(exist_ok=True)
    model.save(folder / "model.keras")
    (folder / "class_names.txt").write_text("negative\npositive\n")
    lines = ["id,f0,f1,f2,f3,f4,f5,label"]
    lines += [f"row{i:03d}," + ",".join(f"{v:.4f}" for v in row) + f",{label}" for i, (row, label) in enumerate(zip(features, labels))]
    (folder / "table.csv").write_text("\n".join(lines) + "\n")


POSITIVE = ("great", "excellent", "loved", "wonderful", "superb")
NEGATIVE = ("awful", "terrible", "hated", "boring", "dreadful")
FILLER = ("the", "a", "film", "movie", "plot", "actors", "was", "and", "it", "story", "music", "quite", "really", "this", "scenes", "ending", "very", "of")
VOCAB = ("<pad>", "<unk>", *POSITIVE, *NEGATIVE, *FILLER)
LENGTH = 12


def make_text(count: int, seed: int):
    """Token id rows (0-padded to LENGTH): 4-9 filler words and one to two sentiment words of one
    polarity, which alone decide the label (1: positive)."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((count, LENGTH), np.int32)
    labels = rng.integers(0, 2, size=count)
    for row, label in enumerate(labels):
        deciding = rng.choice(POSITIVE if label else NEGATIVE, size=int(rng.integers(1, 3)))
        words = list(rng.choice(FILLER, size=int(rng.integers(4, 10)))) + list(deciding)
        rng.shuffle(words)
        ids[row, : len(words)] = [VOCAB.index(w) for w in words]
    return ids, labels.astype(np.int64)


def train_text_model(ids: np.ndarray, labels: np.ndarray) -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((LENGTH,), dtype="int32", name="tokens"),
            keras.layers.Embedding(len(VOCAB), 8, name="embedding"),
            keras.layers.GlobalAveragePooling1D(name="pool"),
            keras.layers.Dense(2, activation="softmax", name="probs"),
        ],
        name="text_classifier",
    )
    model.compile(optimizer=keras.optimizers.Adam(2e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(ids, labels, epochs=30, batch_size=32, verbose=0)
    return model


def save_text(model: keras.Model, ids: np.ndarray, labels: np.ndarray) -> None:
    folder = HERE / "text"
    folder.mkdir(exist_ok=True)
    model.save(folder / "model.keras")
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    (folder / "class_names.txt").write_text("negative\npositive\n")
    np.savez_compressed(folder / "reviews.npz", x=ids, labels=labels)


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(model.predict(x, verbose=0).argmax(axis=1) == y))


def main() -> None:
    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    train = make_shapes(1500, seed=1)
    test = make_shapes(300, seed=2)
    model = train_shapes_model(train[0], train[1])
    print(f"shapes: test accuracy {accuracy(model, test[0].astype(np.float32) / 255, test[1]):.3f}")
    save_shapes(model, *make_shapes(24, seed=3))
    save_minus_one_model(model)

    features, labels = make_table(400, seed=4)
    table_model = train_table_model(features[:300], labels[:300])
    print(f"table: held-out accuracy {accuracy(table_model, features[300:].astype(np.float32), labels[300:]):.3f}")
    save_table(table_model, features, labels)

    ids, labels = make_text(1200, seed=5)
    text_model = train_text_model(ids[:1000], labels[:1000])
    print(f"text: held-out accuracy {accuracy(text_model, ids[1000:], labels[1000:]):.3f}")
    save_text(text_model, ids[1000:1030], labels[1000:1030])


if __name__ == "__main__":
    main()
