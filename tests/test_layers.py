"""--layer: IG in a layer's activation space; token models through their embeddings."""

import csv
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.conftest import assert_one_line_error, save_npy
from tests.models import bright_quadrant_data, trained_cnn

TEXT = Path(__file__).resolve().parent.parent / "sample_data" / "text"


@pytest.fixture(scope="module")
def split_cnn(tmp_path_factory):
    """A trained CNN, and the same network cut after its second conv layer into two models."""
    root = tmp_path_factory.mktemp("split")
    model = trained_cnn(seed=2)
    model.save(root / "full.keras")
    cut = 3  # conv, pool, conv | gap, dense
    head = keras.Sequential([keras.Input(model.layers[cut - 1].output.shape[1:]), *model.layers[cut:]])
    head.save(root / "head.keras")
    x, _ = bright_quadrant_data(6, seed=9)
    baseline = np.full_like(x, 0.1)
    tail = keras.Sequential([keras.Input((16, 16, 3)), *model.layers[:cut]])
    save_npy(root / "x.npy", x)
    save_npy(root / "b.npy", baseline)
    save_npy(root / "acts.npy", tail.predict(x, verbose=0))
    save_npy(root / "acts_b.npy", tail.predict(baseline, verbose=0))
    return root, model.layers[cut - 1].name, model.layers[cut].name


def test_layer_ig_equals_plain_ig_on_precomputed_activations(igcli, split_cnn):
    root, layer, next_layer = split_cnn
    common = ("--steps", 32, "--output", "logits", "--target", 1)
    by_layer = igcli("explain", root / "full.keras", root / "x.npy", "--layer", layer, "--baseline", root / "b.npy", *common)
    assert by_layer.exit_code == 0, by_layer.stderr
    plain = igcli("explain", root / "head.keras", root / "acts.npy", "--baseline", root / "acts_b.npy", *common)
    assert plain.exit_code == 0, plain.stderr
    a, b = by_layer.arrays(), plain.arrays()
    assert a["attributions"].shape == b["attributions"].shape == (6, 5, 5, 8)
    scale = np.abs(b["attributions"]).max()
    np.testing.assert_allclose(a["attributions"], b["attributions"], atol=1e-4 * scale)
    # completeness is end to end: F(x) - F(x') of the whole model
    np.testing.assert_allclose(a["scores"], b["scores"], rtol=1e-5)
    np.testing.assert_allclose(a["baseline_scores"], b["baseline_scores"], rtol=1e-5)
    # the same point seen as the next layer's input
    as_input = igcli("explain", root / "full.keras", root / "x.npy", "--layer", next_layer, "--layer-input", "--baseline", root / "b.npy", *common)
    np.testing.assert_allclose(as_input.arrays()["attributions"], a["attributions"], atol=1e-4 * scale)


def test_layer_errors(igcli, split_cnn, tmp_path):
    root, layer, _ = split_cnn
    assert_one_line_error(igcli("explain", root / "full.keras", root / "x.npy", "--layer", "nope"), 2, "no layer 'nope'")
    assert_one_line_error(igcli("explain", root / "full.keras", root / "x.npy", "--layer-input"), 2, "--layer")
    model = keras.saving.load_model(root / "full.keras")
    model.export(tmp_path / "sm", verbose=False)
    assert_one_line_error(igcli("explain", tmp_path / "sm", root / "x.npy", "--layer", layer), 2, "SavedModel")


def test_token_model_needs_its_embedding_and_attributes_the_deciding_words(igcli, tmp_path):
    refused = igcli("explain", TEXT / "model.keras", TEXT / "reviews.npz")
    assert_one_line_error(refused, 2, "--layer embedding")
    run = igcli(
        "explain",
        TEXT / "model.keras",
        TEXT / "reviews.npz",
        "--layer",
        "embedding",
        "--output",
        "logits",
        "--vocab",
        TEXT / "vocab.txt",
        "--class-names",
        TEXT / "class_names.txt",
    )
    assert run.exit_code == 0, run.stderr
    arrays = run.arrays()
    assert arrays["attributions"].shape == (30, 12)  # one value per token
    assert np.all(arrays["relative_deltas"] < 1e-3)
    vocab = (TEXT / "vocab.txt").read_text().split()
    sentiment = set(vocab[2:12])  # great ... dreadful: the words that decide the label
    with open(run.out / "tokens.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_review = {}
    for row in rows:
        by_review.setdefault(row["id"], []).append((row["token"], float(row["attribution"])))
    assert len(by_review) == 30
    for review, tokens in by_review.items():
        deciding = [abs(a) for t, a in tokens if t in sentiment]
        others = [abs(a) for t, a in tokens if t not in sentiment]
        assert deciding and min(deciding) > max(others), (review, tokens)
    page = (run.out / "tokens" / "0.html").read_text()
    assert "<span" in page and "background: rgba(" in page
    assert_one_line_error(igcli("explain", TEXT / "model.keras", TEXT / "reviews.npz", "--layer", "pool", "--vocab", TEXT / "vocab.txt"), 2, "--vocab")
