"""The CJK font of every product: maps, charts, HTML report and PDF bulletins.

The machine has no Chinese font of its own; airwarn ships one, **Noto Sans CJK SC Regular**
(SIL Open Font License 1.1, ``products/fontfiles/OFL.txt``), so Chinese labels never fall back to
empty boxes whatever is installed. It is registered with matplotlib (:func:`register_fonts`) and
with WeasyPrint / browsers through a CSS ``@font-face`` rule with a ``file://`` URL
(:func:`font_face_css`).

Public functions: :func:`cjk_font_path`, :func:`register_fonts`, :func:`font_family`,
:func:`mpl_rc`, :func:`font_face_css`, :func:`embedded_font_face_css`, :func:`missing_glyphs`.

HTML pages opened from disk cannot load a ``file://`` font in Chromium (fonts need CORS), so the
self-contained forecaster report embeds a subset of the font holding exactly the characters of
the page (:func:`embedded_font_face_css`, WOFF2 in a ``data:`` URL, typically 30–150 kB).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "CJK_FAMILY",
    "CSS_FAMILY",
    "cjk_font_path",
    "register_fonts",
    "font_family",
    "mpl_rc",
    "font_face_css",
    "embedded_font_face_css",
    "missing_glyphs",
]

#: Family name inside the shipped font file (its ``name`` table, ID 1).
CJK_FAMILY = "Noto Sans CJK SC"
#: Family name the CSS of the HTML/PDF products uses for the shipped font.
CSS_FAMILY = "airwarn CJK"
_FONT_FILE = Path(__file__).resolve().parent / "fontfiles" / "NotoSansCJKsc-Regular.otf"


def cjk_font_path() -> Path:
    """Path of the shipped CJK font file (OpenType/CFF, Noto Sans CJK SC Regular).

    Raises
    ------
    FileNotFoundError
        If the installation lost the file (names the expected path).
    """
    if not _FONT_FILE.is_file():
        raise FileNotFoundError(
            f"CJK font missing: expected {_FONT_FILE} (shipped with airwarn in products/fontfiles/); "
            "reinstall the package"
        )
    return _FONT_FILE


@lru_cache(maxsize=1)
def register_fonts() -> str:
    """Register the shipped CJK font with matplotlib's font manager (once per process).

    Returns
    -------
    str
        The family name to use in matplotlib (``"Noto Sans CJK SC"``).
    """
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(cjk_font_path()))
    return CJK_FAMILY


def font_family() -> list[str]:
    """matplotlib ``font.sans-serif`` list: the CJK font first, DejaVu Sans as glyph fallback."""
    return [register_fonts(), "DejaVu Sans"]


def mpl_rc() -> dict[str, Any]:
    """rcParams for a ``matplotlib.rc_context`` in which Chinese text renders with the CJK font.

    Products use a context rather than changing global rcParams, so that other packages' figures
    are not affected.
    """
    return {
        "font.family": font_family(),  # a list: per-glyph fallback to DejaVu Sans (matplotlib ≥ 3.6)
        "font.sans-serif": font_family(),
        "axes.unicode_minus": False,  # the CJK font's hyphen-minus, not U+2212
        "svg.fonttype": "path",
    }


def font_face_css(family: str = CSS_FAMILY) -> str:
    """CSS ``@font-face`` rule that loads the shipped font from its ``file://`` URL.

    Used by the PDF bulletins (WeasyPrint, offline) and the HTML products opened from disk.

    Parameters
    ----------
    family : str
        CSS family name to declare.
    """
    url = cjk_font_path().as_uri()
    return (f'@font-face {{ font-family: "{family}"; src: url("{url}") format("opentype"); '
            "font-style: normal; }")


def embedded_font_face_css(text: str, family: str = CSS_FAMILY) -> str:
    """CSS ``@font-face`` rule with the CJK font subset to the characters of ``text``, inlined.

    Parameters
    ----------
    text : str
        Every character the page shows (e.g. the rendered HTML itself).
    family : str
        CSS family name to declare.

    Returns
    -------
    str
        A rule whose ``src`` is a base64 ``data:`` URL (WOFF2 when brotli is installed, else
        OpenType), so the page needs no file or network access for its font.
    """
    import base64
    import io

    from fontTools import subset
    from fontTools.ttLib import TTFont

    try:
        import brotli  # noqa: F401

        flavor, mime, fmt = "woff2", "font/woff2", "woff2"
    except ImportError:  # pragma: no cover - brotli ships with the dev extra's fonttools deps
        flavor, mime, fmt = None, "font/otf", "opentype"
    opts = subset.Options()
    opts.flavor = flavor
    opts.layout_features = ["*"]
    opts.notdef_outline = True
    chars = "".join(sorted(set(text) | set("0123456789.-–%·")))
    # keep the font's own head.modified: a subset saved now would differ from run to run
    buf = io.BytesIO()
    with TTFont(str(cjk_font_path()), lazy=True, recalcTimestamp=False) as font:
        sub = subset.Subsetter(opts)
        sub.populate(text=chars)
        sub.subset(font)
        font.flavor = flavor
        font.save(buf)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f'@font-face {{ font-family: "{family}"; src: url("data:{mime};base64,{data}") '
            f'format("{fmt}"); font-style: normal; }}')


def missing_glyphs(text: str, font_path: Path | str | None = None) -> list[str]:
    """Characters of ``text`` that the font's character map does not cover (whitespace ignored).

    Parameters
    ----------
    text : str
    font_path : path-like, optional
        Font to check; the shipped CJK font by default.

    Returns
    -------
    list of str
        Uncovered characters, in order of first appearance, without repeats.
    """
    cmap = _cmap(str(font_path or cjk_font_path()))
    out: list[str] = []
    for ch in text:
        if not ch.isspace() and ord(ch) not in cmap and ch not in out:
            out.append(ch)
    return out


@lru_cache(maxsize=4)
def _cmap(path: str) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(path, lazy=True) as font:
        return frozenset(font.getBestCmap())
