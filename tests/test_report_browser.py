"""The HTML report in a real browser (headless Chromium): it loads cleanly, shows every section
its nav lists, and reads without scrolling sideways."""

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, Page, sync_playwright
from report_scenes import small_scene
from skimage import data

from groundforge.report.build import build_report
from groundforge.run.batch import generate

SCENE = small_scene("browser", 5)

# Sections that every report with real photographs has. The rest are read from the page's nav,
# so sections added to the report are checked without being named here.
ALWAYS = ("Summary", "Image statistics", "Fidelity against real images", "Sample images")

# Without the background-networking flags Chromium tries (refused) connections to Google's
# services, and even with them it looks up Google's host names: the resolver rule fails every
# lookup inside the browser, which a page opened from file:// never needs. As root Chromium runs
# only without its sandbox.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]

WIDTHS_PX = (1280, 800)


def real_crops(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """n random (96, 128, 3) uint8 crops of scikit-image's photographs."""
    sources = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    crops = []
    for i in range(n):
        photo = sources[i % len(sources)]
        y = rng.integers(0, photo.shape[0] - 96)
        x = rng.integers(0, photo.shape[1] - 128)
        crops.append(photo[y : y + 96, x : x + 128])
    return crops


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    (root / "scene.yaml").write_text(SCENE)
    generate(root / "scene.yaml", root / "out", count=4)
    real = root / "real"
    real.mkdir()
    for i, crop in enumerate(real_crops(np.random.default_rng(0), 40)):
        Image.fromarray(crop).save(real / f"{i:02d}.png")
    return build_report(root / "out", root / "report", real=real, limit=40)


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "the report's browser test needs Chromium, which is not installed: install Debian's "
            "package with `apt-get install chromium` (.ci/run does this itself)",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        yield context
        context.close()


@dataclass
class Rendered:
    """A page opened in the browser and what went wrong while it loaded."""

    page: Page
    problems: list[str]


def render(browser: BrowserContext, html: Path, width_px: int) -> Rendered:
    """Open `html` in a new tab `width_px` wide and wait until it and its images have loaded."""
    page = browser.new_page()
    page.set_viewport_size({"width": width_px, "height": 900})
    problems = []

    def on_console(message):
        if message.type == "error":
            problems.append(f"console error: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"uncaught exception: {error}"))
    page.on(
        "requestfailed",
        lambda request: problems.append(f"failed to load {request.url[:120]}: {request.failure}"),
    )
    page.goto(html.as_uri(), wait_until="load")
    return Rendered(page, problems)


@pytest.fixture(scope="module", params=WIDTHS_PX, ids=lambda w: f"{w}px")
def rendered(request, browser, report):
    result = render(browser, report, request.param)
    yield result
    result.page.close()


def nav_entries(page: Page) -> list[tuple[str, str]]:
    """(target id, link text) of every in-page link of the nav, in order."""
    return page.eval_on_selector_all(
        "nav a[href^='#']", "links => links.map(a => [a.hash.slice(1), a.textContent.trim()])"
    )


# For an element id: its size on screen, whether CSS hides it, and the text of its heading
# (the element itself if it is one, else the first heading inside it).
SECTION_JS = """id => {
    const el = document.getElementById(id);
    if (el === null) return null;
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    const heading = el.matches('h1, h2, h3, h4, h5, h6')
        ? el : el.querySelector('h1, h2, h3, h4, h5, h6');
    return {
        width: box.width,
        height: box.height,
        hidden: style.visibility === 'hidden' || style.display === 'none',
        heading: heading === null ? null : heading.textContent.trim(),
    };
}"""


def test_page_loads_without_console_errors_or_failed_loads(rendered):
    assert rendered.problems == []


def test_nav_lists_the_sections_every_report_has(rendered):
    titles = [title for _, title in nav_entries(rendered.page)]
    assert [t for t in ALWAYS if t not in titles] == []


def test_every_section_in_the_nav_is_shown_under_its_title(rendered):
    entries = nav_entries(rendered.page)
    assert entries
    for target, title in entries:
        section = rendered.page.evaluate(SECTION_JS, target)
        assert section is not None, f"nav links to #{target} ({title}), which is not on the page"
        assert section["width"] > 0 and section["height"] > 0, f"{title} has no size: {section}"
        assert not section["hidden"], f"{title} is hidden by CSS"
        assert section["heading"] == title


def test_every_image_has_loaded(rendered):
    images = rendered.page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => [i.alt, i.complete && i.naturalWidth > 0])"
    )
    assert images
    assert [alt for alt, loaded in images if not loaded] == []


# The elements whose box or content reaches past the right edge of the viewport, to name the
# culprit of a failure; those that scroll or clip their own overflow (wide tables) are not.
OVERFLOW_JS = """() => [...document.body.querySelectorAll('*')]
    .filter(el => getComputedStyle(el).overflowX === 'visible')
    .map(el => [el, el.getBoundingClientRect().left + el.scrollWidth])
    .filter(([el, right]) => right > window.innerWidth)
    .slice(-5)
    .map(([el, right]) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
        + ' reaches ' + Math.round(right) + ' px')"""


def test_page_reads_without_scrolling_sideways(rendered):
    page = rendered.page
    scroll_width, inner_width = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert scroll_width <= inner_width, page.evaluate(OVERFLOW_JS)
