"""The shipped CJK font renders Chinese as real glyphs, not empty boxes."""

from __future__ import annotations

import warnings

import numpy as np
from airwarn.products.fonts import (
    CJK_FAMILY,
    cjk_font_path,
    font_face_css,
    missing_glyphs,
    register_fonts,
)
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont

TEXT = "重度污染"


def _render(family: str) -> np.ndarray:
    fig = Figure(figsize=(2.4, 0.8), dpi=100)
    FigureCanvasAgg(fig)
    fig.text(0.05, 0.3, TEXT, fontproperties=FontProperties(family=family, size=24))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # DejaVu lacks the glyphs: the point
        fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., 0].astype(int)


def test_font_has_the_glyphs_and_renders_differently_from_dejavu() -> None:
    assert register_fonts() == CJK_FAMILY
    assert findfont(FontProperties(family=CJK_FAMILY), fallback_to_default=False) == str(
        cjk_font_path())
    assert missing_glyphs(TEXT + "优良轻度中度重度严重污染成渝川渝毗邻高架源预警解除") == []
    # DejaVu Sans has none of them: that is the "empty boxes" case
    dejavu = findfont(FontProperties(family="DejaVu Sans"))
    assert missing_glyphs(TEXT, dejavu) == list(TEXT)
    cjk, boxes = _render(CJK_FAMILY), _render("DejaVu Sans")
    assert (cjk < 128).sum() > 200  # real ink
    assert np.abs(cjk - boxes).sum() > 50_000  # different glyph images
    # the 4 glyphs are 4 different shapes: the column profiles of the quarters differ
    ink = (cjk < 128)
    cols = np.nonzero(ink.any(axis=0))[0]
    quarters = np.array_split(ink[:, cols.min():cols.max() + 1], 4, axis=1)
    sums = [q.sum() for q in quarters]
    assert len(set(sums)) == 4


def test_font_face_css_points_at_the_file() -> None:
    css = font_face_css()
    assert cjk_font_path().as_uri() in css and "@font-face" in css
