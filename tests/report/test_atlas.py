import numpy as np

from featviz.report.atlas import Site, similar_units


def test_a_copied_record_stays_inside_the_site(tmp_path, monkeypatch):
    run, elsewhere, site_dir = tmp_path / "run", tmp_path / "elsewhere", tmp_path / "site"
    for folder in (run, elsewhere, site_dir):
        folder.mkdir()
    (elsewhere / "m.keras").write_bytes(b"model")
    (elsewhere / "m.keras.prov.json").write_text('{"artifact": "m.keras"}')
    monkeypatch.chdir(run)
    site = Site(site_dir)
    rel = site.record(elsewhere / "m.keras")
    copy = (site_dir / rel).resolve()
    assert site_dir.resolve() in copy.parents and rel.startswith("provenance/")
    assert copy.read_text() == '{"artifact": "m.keras"}'
    assert site.record(elsewhere / "m.keras") == rel and site.files == [site_dir / rel]


def test_similar_units_leave_out_the_unit_itself_and_non_finite_values():
    matrix = np.array([[1.0, 0.2, 0.9, np.nan], [0.2, 1, 0, 0], [0.9, 0, 1, 0], [0, 0, 0, 1]])
    assert similar_units(matrix, 0, [0, 1, 2, 3]) == [(2, 0.9), (1, 0.2)]


def test_a_model_page_without_units_has_no_jump_box():
    """A configuration that renders no unit (filters.units empty, classes off) gives model
    pages with no unit to jump to: the page renders without one (it raised UndefinedError on
    the first of an empty sequence)."""
    from featviz.report.templating import environment

    page = environment().get_template("atlas/base.html.j2")
    context = {"root": "../", "dataset": "d", "model": "m", "title": "t"}
    assert 'id="jump"' not in page.render(**context, units={})
    assert 'placeholder="conv1:0"' in page.render(**context, units={"conv1": [0, 1]})
