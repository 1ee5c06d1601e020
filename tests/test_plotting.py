"""The table of images: one axes, each image in its cell with its aspect, titles and labels."""

import numpy as np

from featviz.plotting import image_table, save_figure


def test_image_table_places_each_image_in_its_cell(tmp_path):
    cells = {
        (0, 0): np.zeros((4, 4, 1)),
        (0, 2): np.ones((4, 2)),  # taller than wide: half the cell's width
        (1, 1): np.full((3, 3, 3), 0.5),
    }
    fig = image_table(
        cells, 3.0, 2.0, titles={(0, 0): "#0"}, row_labels=["a", "b"], column_titles={1: "most"}
    )
    (ax,) = fig.axes
    extents = [tuple(round(v, 3) for v in im.get_extent()) for im in ax.images]
    gap, above = 0.12, 0.32
    assert len(extents) == 3
    assert extents[0] == (0.0, 1.0, above + 1.0, above)
    left = 2 * (1 + gap) + 0.25
    assert extents[1] == (round(left, 3), round(left + 0.5, 3), above + 1.0, above)
    top = (1 + gap + above) + above
    assert extents[2] == (1 + gap, round(2 + gap, 3), round(top + 1.0, 3), round(top, 3))
    texts = {t.get_text() for t in ax.texts}
    assert texts == {"#0", "a", "b", "most"}
    paths = save_figure(fig, tmp_path / "t.png")
    assert all(p.stat().st_size > 0 for p in paths)
