"""Chinese in the browser: a subset of Noto Sans CJK SC shipped inside the explorers' CSS, so labels, buttons and
readouts such as 我想吃酸菜鱼 draw as real glyphs on a machine with no CJK system font, offline, with no CDN.

The heatmap PNGs use the full font through matplotlib; the HTML around them is drawn by the browser, which knows
only its own fonts plus those a page brings. ``cjk_subset.woff`` beside this module holds just the CJK characters
found in mha_lib's source (the course tokens of ``mha_lib.data`` and every label); ``FONT_FACE_CSS`` embeds it as
an ``@font-face`` data URL (``explorer_font_css``). Regenerate it after adding Chinese text:
``python -c "from mha_lib.widgets.fonts import write_subset; print(write_subset())"``.

Native tooltips (``title=`` attributes) are drawn by the browser's own UI, never with a page font: explorers keep
Chinese out of them.

>>> from mha_lib.data import SENTENCE_ZH
>>> set(SENTENCE_ZH) <= set(course_cjk_characters())
True
"""

import base64
import functools
import io
import re
from importlib.resources import files
from pathlib import Path

WEB_FAMILY = "MHA Noto Sans CJK SC"  # the @font-face name, distinct from any installed font
SOURCE_FACE = "Noto Sans CJK SC"  # the face of the .ttc collection in the noto-cjk-sans-otc package
SUBSET_PATH = Path(__file__).with_name("cjk_subset.woff")
# CJK punctuation, Extension A, unified ideographs, full-width forms.
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


def course_cjk_characters() -> str:
    """Every CJK character in mha_lib's source files, sorted: the tokens, labels and readouts it can show."""
    found = {c for path in files("mha_lib").rglob("*.py") for c in CJK.findall(path.read_text(encoding="utf-8"))}
    return "".join(sorted(found))


def make_subset(text: str) -> bytes:
    """A WOFF of the Noto Sans CJK SC face holding the glyphs of ``text`` (~4 s: it reads the 19 MB collection)."""
    from fontTools import subset
    from fontTools.ttLib import TTCollection

    path = next(p for p in files("noto_cjk_sans_otc").iterdir() if p.name.lower().endswith(".ttc"))
    collection = TTCollection(str(path), lazy=True)
    font = next(f for f in collection.fonts if f["name"].getDebugName(1) == SOURCE_FACE)
    options = subset.Options()
    options.flavor = "woff"
    options.layout_features = []  # no vertical forms or locale variants: one glyph per character
    options.name_IDs = ["*"]  # keep the copyright and the OFL licence in the name table
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)
    font.recalcTimestamp = False  # the same characters give the same bytes
    font.flavor = "woff"
    buffer = io.BytesIO()
    font.save(buffer)
    return buffer.getvalue()


def font_face_css(woff: bytes, text: str) -> str:
    """An ``@font-face`` rule for ``woff`` under ``WEB_FAMILY``, used only for the characters of ``text``.

    >>> font_face_css(b"", "我").endswith("unicode-range: U+6211;}")
    True
    """
    data = base64.b64encode(woff).decode("ascii")
    ranges = ", ".join(f"U+{ord(c):04X}" for c in sorted(set(text)))
    return (
        f'@font-face {{font-family: "{WEB_FAMILY}"; src: url(data:font/woff;base64,{data}) format("woff"); '
        f"font-display: block; unicode-range: {ranges};}}"
    )


@functools.cache
def explorer_font_css() -> str:
    """The ``<style>`` every explorer carries: the shipped subset as ``WEB_FAMILY``, first in every text's font
    (the icon font aside), so CJK characters draw with it and everything else with JupyterLab's font."""
    face = font_face_css(SUBSET_PATH.read_bytes(), course_cjk_characters())
    family = f'"{WEB_FAMILY}", var(--jp-ui-font-family, sans-serif)'
    return (
        f"<style>{face} .mha-explorer :not(.fa) {{font-family: {family} !important;}}"
        " .mha-explorer .mha-shapes, .mha-explorer .mha-shapes :not(.fa)"
        f' {{font-family: "{WEB_FAMILY}", monospace !important;}}</style>'
    )


def write_subset() -> str:
    """Regenerate ``cjk_subset.woff`` from the package's CJK characters (after adding Chinese text); a summary."""
    characters = course_cjk_characters()
    SUBSET_PATH.write_bytes(make_subset(characters))
    explorer_font_css.cache_clear()
    return f"{SUBSET_PATH.name}: {len(characters)} characters, {SUBSET_PATH.stat().st_size} bytes"
