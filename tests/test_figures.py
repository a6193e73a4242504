"""The `smic map` figure: panel layout, titles, colour scales and scores (not pixels)."""

from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from PIL import Image

import smic
from smic.cli.main import sample_pair
from smic.figures import MEANINGS, build_figure, draw_panel

ATTENTION_TITLES = {
    "attention_3": "A₃ = 1 − SMIC, relu3_3\n6×9 patches (nearest)",
    "attention_4": "A₄ = 1 − SMIC, relu4_3\n3×4 patches (nearest)",
}
PIXEL_COMBINED = "A = (A₃ + A₄)/2, bilinear\n(weights M)"
DEEP_COMBINED = "A = (A₃ + A₄)/2, bilinear\n(shown only: Eq. 8 uses A₃, A₄)"

# per metric: row 2's distortion panels (key, title, colourbar label), then the combined title
CASES = {
    "psnr": (
        [("distortion", "M: squared error\n192×256, log scale, 1st pct floor", "squared error (log)")],
        PIXEL_COMBINED,
    ),
    "ssim": (
        [("distortion", "M: 1 − SSIM\n182×246, linear, clipped at 99th pct", "1 − SSIM (linear)")],
        PIXEL_COMBINED,
    ),
    "lpips": (
        [
            (
                "distortion_3",
                "M₃: LPIPS relu3_3 distance\n48×64, linear, clipped at 99th pct",
                "LPIPS distance (linear)",
            ),
            (
                "distortion_4",
                "M₄: LPIPS relu4_3 distance\n24×32, linear, clipped at 99th pct",
                "LPIPS distance (linear)",
            ),
        ],
        DEEP_COMBINED,
    ),
}


def suptitle(figure) -> str:
    return figure.get_suptitle() if hasattr(figure, "get_suptitle") else figure._suptitle.get_text()


def test_every_metric_says_what_its_map_means():
    assert set(MEANINGS) == set(smic.list_metrics())
    for meaning in MEANINGS.values():
        assert meaning.title.format(s=3) and meaning.detail.format(layer="relu3_3") and meaning.quantity


@pytest.fixture(scope="module")
def pair():
    return sample_pair()


@pytest.mark.weights
@pytest.mark.parametrize("name", sorted(CASES))
def test_figure_layout_labels_scales_and_scores(name, pair):
    ref, dist = pair
    distortions, combined_title = CASES[name]
    figure = build_figure(ref, dist, name, "smic")
    try:
        axes = {axis.get_label(): axis for axis in figure.axes}
        colourbars = {key.removeprefix("colorbar:"): axis for key, axis in axes.items() if key.startswith("colorbar:")}
        panels = {key: axis for key, axis in axes.items() if not key.startswith("colorbar:")}

        # layout: 2 rows; row 1 the images, the overlay and the notes; row 2 the maps
        second_row = [key for key, _, _ in distortions] + ["attention_3", "attention_4", "attention"]
        columns = len(second_row)
        assert sorted(panels) == sorted(["reference", "distorted", "overlay", "notes", *second_row])
        spec = {key: axis.get_subplotspec() for key, axis in panels.items()}
        assert {s.get_gridspec().get_geometry() for s in spec.values()} == {(2, columns)}
        for col, key in enumerate(["reference", "distorted", "overlay"]):
            assert (spec[key].rowspan, spec[key].colspan) == (range(0, 1), range(col, col + 1)), key
        assert (spec["notes"].rowspan, spec["notes"].colspan) == (range(0, 1), range(3, columns))
        for col, key in enumerate(second_row):
            assert (spec[key].rowspan, spec[key].colspan) == (range(1, 2), range(col, col + 1)), key

        # titles say what each map is
        titles = {key: axis.get_title() for key, axis in panels.items()}
        assert titles["reference"] == "reference"
        assert titles["distorted"] == "distorted"
        assert titles["overlay"] == "distorted + A = (A₃ + A₄)/2\n(SMIC; contours: A values)"
        assert titles["notes"] == ""
        for key, title, _ in distortions:
            assert titles[key] == title
        assert {key: titles[key] for key in ATTENTION_TITLES} == ATTENTION_TITLES
        assert titles["attention"] == combined_title
        notes = panels["notes"].texts[0].get_text()
        assert "larger = worse" in notes and ("Eq. 8" if len(distortions) == 2 else "Eq. 7") in notes

        # one colourbar per distortion map, one shared by the three attention panels
        assert sorted(colourbars) == sorted([key for key, _, _ in distortions] + ["attention"])
        for key, _, label in distortions:
            assert colourbars[key].get_xlabel() == label
        assert colourbars["attention"].get_xlabel() == "A = 1 − SMIC (higher: counts more)"
        limits = {key: panels[key].images[-1].get_clim() for key in ("attention_3", "attention_4", "attention")}
        limits["overlay"] = panels["overlay"].images[-1].get_clim()
        assert len(set(limits.values())) == 1, limits
        low, high = limits["attention"]
        assert 0 <= low < high <= 1

        # the official and the +smic score, as the metrics give them, and which way is better
        official = float(smic.create_metric(name)(ref, dist)[0])
        enhanced_metric = smic.create_metric(name, attention="smic")
        enhanced = float(enhanced_metric(ref, dist)[0])
        direction = "lower" if enhanced_metric.lower_better else "higher"
        title = suptitle(figure)
        assert f"official {official:.5g}" in title
        assert f"{name}+smic {enhanced:.5g}" in title
        assert f"({direction} is better)" in title
        assert "attention: SMIC" in title
    finally:
        plt.close(figure)


@pytest.mark.weights
def test_draw_panel_saves_the_figure_and_returns_its_path(pair, tmp_path):
    ref, dist = pair
    out = draw_panel(ref, dist, "psnr", tmp_path / "panel.png", "mic")
    assert out == Path(tmp_path / "panel.png")
    width, height = Image.open(out).size
    assert 1200 <= width <= 2000 and 500 <= height <= 1000  # a 2-row grid, not a strip
    assert plt.get_fignums() == []  # the figure is closed
