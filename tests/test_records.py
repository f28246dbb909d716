"""--records jsonl: Vertex Explainable AI's Attribution records, a line per instance, equal to
the arrays and summary.csv they come from (issue 25)."""

import csv
import json

import h5py
import numpy as np
import pytest

from tests.test_inspect import SHAPES

TABLE = SHAPES.parent / "table"
FIELDS = {"outputIndex", "outputDisplayName", "outputName", "instanceOutputValue", "baselineOutputValue", "approximationError", "featureAttributions"}


def records(out):
    return [json.loads(line) for line in (out / "explanations.jsonl").read_text().splitlines()]


def rows(path, key="id"):
    with open(path, newline="") as handle:
        return {row[key]: row for row in csv.DictReader(handle)}


def test_table_records_name_their_columns_and_equal_the_arrays(igcli):
    run = igcli(
        "explain", TABLE / "model.keras", TABLE / "table.csv", "--id-column", "id", "--label-column", "label", "--target", "label",
        "--output", "logits", "--class-names", TABLE / "class_names.txt", "--steps", 8, "--records", "jsonl", "--no-report",
    )  # fmt: skip
    assert run.exit_code == 0, run.stderr
    lines, summary, table = records(run.out), rows(run.out / "summary.csv"), rows(run.out / "attributions.csv")
    assert [line["id"] for line in lines] == list(summary)  # input order, every instance
    for line in lines:
        (attribution,) = line["explanation"]["attributions"]
        assert set(attribution) == FIELDS
        expected = summary[line["id"]]
        assert attribution["outputIndex"] == [int(expected["target"])] and attribution["outputDisplayName"] == expected["target_name"]
        assert attribution["outputName"] == "probs"  # the model's output, whose softmax --output logits takes off
        assert attribution["instanceOutputValue"] == pytest.approx(float(expected["score"]), rel=1e-12)
        assert attribution["baselineOutputValue"] == pytest.approx(float(expected["baseline_score"]), rel=1e-12)
        assert attribution["approximationError"] == pytest.approx(float(expected["error_estimate"]), rel=1e-12)
        columns = {k: float(v) for k, v in table[line["id"]].items() if k != "id"}
        assert attribution["featureAttributions"] == pytest.approx(columns, rel=1e-6)


def test_image_records_point_at_their_rows_and_failures_say_why(igcli, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("circle_00", "square_00", "triangle_00"):
        (images / f"{name}.png").write_bytes((SHAPES / "images" / f"{name}.png").read_bytes())
    (images / "broken.png").write_bytes(b"not a png")
    run = igcli("explain", SHAPES / "model.keras", images, "--steps", 4, "--target", "top:2", "--records", "jsonl", "--no-report", "--no-heatmap")
    assert run.exit_code == 1  # the broken file
    lines = {line["id"]: line for line in records(run.out)}
    assert lines["broken"]["error"].startswith("not a readable image") and "explanation" not in lines["broken"]
    with h5py.File(run.out / "attributions.h5") as arrays:
        ids = [i.decode() if isinstance(i, bytes) else i for i in arrays["ids"][:]]
        for ident in ("circle_00", "square_00", "triangle_00"):
            attributions = lines[ident]["explanation"]["attributions"]
            assert len(attributions) == 2
            for k, attribution in enumerate(attributions):
                where = attribution["featureAttributions"]
                assert where == {"file": "attributions.h5", "dataset": "attributions", "row": ids.index(ident), "target": k, "shape": [64, 64, 3]}
                assert attribution["outputIndex"] == [int(arrays["targets"][where["row"], k])]
                assert attribution["instanceOutputValue"] == arrays["scores"][where["row"], k]
                values = arrays[where["dataset"]][where["row"], where["target"]]
                assert values.shape == (64, 64, 3) and np.isfinite(values).all()


def test_records_added_on_a_resume_cover_every_instance(igcli, tmp_path):
    out = tmp_path / "out"
    args = ("explain", SHAPES / "model.keras", SHAPES / "images", "--steps", 4, "--no-report", "--no-heatmap", "-o", out)
    assert igcli(*args).exit_code == 0 and not (out / "explanations.jsonl").exists()
    run = igcli(*args, "--resume", "--records", "jsonl")
    assert run.exit_code == 0, run.stderr
    assert [line["id"] for line in records(out)] == sorted(p.stem for p in (SHAPES / "images").glob("*.png"))
