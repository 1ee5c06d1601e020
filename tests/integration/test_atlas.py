"""The atlas the tiny demo DAG built: a page per unit, links that resolve inside it, and
pages that work in a real browser (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("demo")]

PAIRS = [("synthetic-digits", "cnn3"), ("synthetic-house-numbers", "cnn3")]
BROWSER_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def atlas(demo_run) -> Path:
    return demo_run / "results" / "atlas"


def test_every_rendered_unit_and_class_has_a_page(atlas, demo_run):
    for dataset, model in PAIRS:
        base = demo_run / "results" / dataset / model / "filters"
        for arrays in sorted(base.glob("*.npz")):
            layer = arrays.stem
            for index in np.load(arrays)["indices"]:
                page = atlas / dataset / model / layer / f"{index}.html"
                assert page.is_file(), page
        # the classes: the logits layer fc2, ten digits
        assert len(list((atlas / dataset / model / "fc2").glob("*.html"))) == 10
    text = (atlas / "synthetic-digits/cnn3/conv2/1.html").read_text()
    for part in (
        "What maximizes it",
        "How interpretable",
        "Convergence",
        "deconvnet projections",
        "Most similar units",
    ):
        assert part in text, part
    classes = (atlas / "synthetic-digits/cnn3/fc2/0.html").read_text()
    assert "Under each ablation setting" in classes and "Judge confidence" in classes


def test_every_learned_feature_has_a_page_linked_with_its_units(atlas, demo_run):
    for dataset, model in PAIRS:
        arrays = demo_run / "results" / dataset / model / "dictionary" / "conv2.npz"
        features = np.load(arrays)["features"]
        folder = atlas / dataset / model / "conv2"
        pages = sorted(folder.glob("feature-*.html"))
        assert len(pages) == len(features) == 3
        model_page = (atlas / dataset / model / "index.html").read_text()
        assert all(f'href="../../{dataset}/{model}/conv2/{p.name}"' in model_page for p in pages)
        # each unit page links the features with a positive weight on it, and back
        for unit in range(features.shape[1]):
            text = (folder / f"{unit}.html").read_text()
            loading = [k for k in range(len(features)) if features[k, unit] > 0]
            assert ("Learned features that load on it" in text) == bool(loading), unit
            assert all(f"conv2/feature-{k}.html" in text for k in loading), unit
    text = (atlas / "synthetic-digits/cnn3/conv2/feature-0.html").read_text()
    for part in ("What maximizes it", "How interpretable", "Dataset examples", "Units it loads on"):
        assert part in text, part


def links(page: Path) -> list[str]:
    """Every href and src of a page, parsed by html5lib (strictly: a parse error fails)."""
    import html5lib

    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    tree = parser.parse(page.read_bytes())
    return [el.get(a) for el in tree.iter() for a in ("href", "src") if el.get(a) is not None]


def test_every_link_resolves_inside_the_atlas(atlas):
    pages = sorted(atlas.rglob("*.html"))
    assert len(pages) > 40
    broken = []
    for page in pages:
        for link in links(page):
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith("/"):
                broken.append(f"{page}: {link} is not a relative link")
                continue
            if not parts.path:
                continue  # a fragment on the same page
            target = (page.parent / unquote(parts.path)).resolve()
            if not target.is_file() or atlas.resolve() not in target.parents:
                broken.append(f"{page.relative_to(atlas)}: {link} does not resolve in the atlas")
    assert not broken, "\n".join(broken[:20])
    size = sum(f.stat().st_size for f in atlas.rglob("*") if f.is_file())
    assert size < 50e6


def test_the_atlas_is_in_the_provenance_chain(atlas, demo_run, tmp_path):
    featviz = Path(sys.executable).parent / "featviz"
    out = subprocess.run(
        [str(featviz), "provenance", "verify", str(demo_run), "--allow-dirty"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout[-3000:]
    copy = tmp_path / "run"
    shutil.copytree(demo_run, copy, ignore=shutil.ignore_patterns(".snakemake"))
    thumb = copy / "results/atlas/synthetic-digits/cnn3/conv1/0.png"
    thumb.write_bytes(thumb.read_bytes() + b"\0")
    out = subprocess.run(
        [str(featviz), "provenance", "verify", str(copy), "--allow-dirty"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1
    assert str(thumb.relative_to(copy)) in out.stdout and "differs" in out.stdout


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs Debian's chromium (make setup); it is missing.")
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    return path


def test_the_pages_work_in_a_real_browser(atlas, tmp_path):
    from playwright.sync_api import sync_playwright

    executable = chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=BROWSER_FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        for name, rel in [
            ("index", "index.html"),
            ("model", "synthetic-digits/cnn3/index.html"),
            ("unit", "synthetic-digits/cnn3/conv2/1.html"),
            ("class", "synthetic-house-numbers/cnn3/fc2/2.html"),
            ("feature", "synthetic-house-numbers/cnn3/conv2/feature-1.html"),
        ]:
            page.goto((atlas / rel).as_uri())
            unloaded = page.evaluate(
                "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
                ".map(i => i.src)"
            )
            assert unloaded == [], (rel, unloaded)
            assert page.locator("img").count() > 0 or name == "index"
            page.screenshot(path=tmp_path / f"{name}.png", full_page=True)
        # the right-arrow key leads to the next unit's page
        page.goto((atlas / "synthetic-digits/cnn3/conv2/1.html").as_uri())
        with page.expect_navigation():
            page.keyboard.press("ArrowRight")
        assert page.url.endswith("/synthetic-digits/cnn3/conv2/2.html")
        with page.expect_navigation():
            page.keyboard.press("ArrowLeft")
        assert page.url.endswith("/conv2/1.html")
        # and from a feature to the next feature
        page.goto((atlas / "synthetic-digits/cnn3/conv2/feature-0.html").as_uri())
        with page.expect_navigation():
            page.keyboard.press("ArrowRight")
        assert page.url.endswith("/synthetic-digits/cnn3/conv2/feature-1.html")
        # the jump box finds a unit, and says so when it cannot
        page.fill("#jump input", "fc1:3")
        with page.expect_navigation():
            page.press("#jump input", "Enter")
        assert page.url.endswith("/synthetic-digits/cnn3/fc1/3.html")
        page.fill("#jump input", "conv9:1")
        page.press("#jump input", "Enter")
        assert "one of the layers conv1, conv2, fc1, fc2" in page.text_content(".jump-error")
        browser.close()
    assert errors == []
    shown = ("index", "model", "unit", "feature")
    assert all((tmp_path / f"{n}.png").stat().st_size > 5000 for n in shown)
