"""igcli explain --xrai: region maps of real photos over the run's own attributions, equal to PAIR
saliency 0.2.1's XRAI given the same base attribution; the black+white baseline is the mean of
the two runs; pictures, arrays, resume and refusals (issue 25)."""

import h5py
import numpy as np
import pytest
from PIL import Image

pytest.importorskip("skimage")
sal = pytest.importorskip("saliency.core.xrai")

from skimage import data  # noqa: E402

from tests.conftest import assert_one_line_error  # noqa: E402
from tests.test_inspect import SHAPES  # noqa: E402


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Three real photos at the sample CNN's 64x64 input."""
    folder = tmp_path_factory.mktemp("photos")
    for name in ("astronaut", "chelsea", "coffee"):
        Image.fromarray(getattr(data, name)()).convert("RGB").resize((64, 64), Image.Resampling.BILINEAR).save(folder / f"{name}.png")
    return folder


def stored(out) -> dict:
    with h5py.File(out / "attributions.h5") as arrays:
        ids = [i.decode() if isinstance(i, bytes) else i for i in arrays["ids"][:]]
        return {"ids": ids, **{name: arrays[name][()] for name in ("attributions", "xrai", "targets")}}


@pytest.mark.parametrize("algorithm", ["full", "fast"])
def test_regions_equal_saliencys_over_the_same_attributions(igcli, photos, algorithm):
    run = igcli("explain", SHAPES / "model.keras", photos, "--xrai", "--xrai-algorithm", algorithm, "--steps", 16, "--no-report")
    assert run.exit_code == 0, run.stderr
    arrays = stored(run.out)
    for row, ident in enumerate(arrays["ids"]):
        image = np.asarray(Image.open(photos / f"{ident}.png"), np.float32) / 255  # what the model saw (--scale 0..1)
        params = sal.XRAIParameters(algorithm=algorithm)
        theirs = sal.XRAI().GetMask(image, None, base_attribution=arrays["attributions"][row], extra_parameters=params)
        np.testing.assert_allclose(arrays["xrai"][row], theirs, rtol=0, atol=1e-5 * np.abs(theirs).max())
        assert (run.out / "heatmaps" / f"{ident}.xrai.png").is_file() and (run.out / "heatmaps" / f"{ident}.png").is_file()


def test_black_and_white_baselines_average_the_two_runs(igcli, photos):
    runs = {
        b: igcli("explain", SHAPES / "model.keras", photos, "--baseline", b, "--steps", 8, "--no-report", "--no-heatmap")
        for b in ("black", "white", "black+white")
    }
    assert all(run.exit_code == 0 for run in runs.values()), [run.stderr for run in runs.values()]
    black, white, both = (runs[b].arrays() for b in ("black", "white", "black+white"))
    np.testing.assert_array_equal(both["targets"], black["targets"])
    np.testing.assert_allclose(both["attributions"], (black["attributions"] + white["attributions"]) / 2, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(both["baseline_scores"], (black["baseline_scores"] + white["baseline_scores"]) / 2, rtol=1e-6)


def test_several_targets_resume_and_the_region_picture(igcli, photos, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in photos.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    args = ("explain", SHAPES / "model.keras", folder, "--xrai", "--target", "top:2", "--steps", 8, "--no-report", "-o", tmp_path / "out")
    run = igcli(*args)
    assert run.exit_code == 0, run.stderr
    first = stored(tmp_path / "out")
    assert first["xrai"].shape == (3, 2, 64, 64) and np.isfinite(first["xrai"]).all()
    picture = tmp_path / "out" / "heatmaps" / "chelsea" / f"{first['targets'][first['ids'].index('chelsea'), 1]}.xrai.png"
    shown = np.asarray(Image.open(picture).convert("RGB"), np.float64)
    photo = np.asarray(Image.open(photos / "chelsea.png").resize(Image.open(picture).size, Image.Resampling.NEAREST), np.float64)
    bright = np.all(shown == photo, axis=-1)  # the top regions at full brightness, the rest a quarter
    assert 0.3 <= bright.mean() <= 0.6 and np.allclose(shown[~bright], np.floor(photo[~bright] / 4), atol=1)
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "out" / "heatmaps").rglob("*.xrai.png")}
    Image.open(photos / "coffee.png").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "new.png")
    again = igcli(*args, "--resume")  # the three from the journal, the new one computed
    assert again.exit_code == 0 and "(3 reused, 1 computed, 0 failed)" in again.stderr, again.stderr
    second = stored(tmp_path / "out")
    for row, ident in enumerate(first["ids"]):
        assert second["xrai"][second["ids"].index(ident)].tobytes() == first["xrai"][row].tobytes()
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes  # reused, not drawn again
    assert len(list((tmp_path / "out" / "heatmaps" / "new").glob("*.xrai.png"))) == 2


def test_xrai_needs_images_at_the_model_input(igcli):
    table = SHAPES.parent / "table"
    run = igcli("explain", table / "model.keras", table / "table.csv", "--id-column", "id", "--label-column", "label", "--xrai")
    assert_one_line_error(run, 2, "--xrai", "image inputs")
