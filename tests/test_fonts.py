"""The course font: matplotlib resolves Noto Sans CJK SC, and that face has a glyph for every Chinese token.

Before matplotlib 3.11, ``addfont`` on the ``.ttc`` registered only its first face ("Noto Sans CJK JP"), so the
course family was not found and labels fell back to DejaVu Sans (boxes); this test fails on such a version.
"""

from fontTools.ttLib import TTFont
from matplotlib import font_manager

from mha_lib.data import SENTENCE_ZH, TOKENS_ZH
from mha_lib.viz import CJK_FAMILY, register_cjk_font


def _resolved_face(family: str | None = None) -> tuple[str, int, str]:
    """(file, face index, family name) of the font matplotlib draws ``family`` with (None = the default font)."""
    found = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=family is None)
    font = font_manager.get_font(found)
    return str(font.fname), getattr(font, "face_index", 0), font.family_name  # face_index: matplotlib >= 3.11


def test_the_course_family_is_registered_and_is_the_default():
    register_cjk_font()
    try:
        named = _resolved_face(CJK_FAMILY)
    except ValueError as error:  # findfont found no face of that name
        raise AssertionError(f"matplotlib has no face named {CJK_FAMILY!r} after register_cjk_font()") from error
    assert named[2] == CJK_FAMILY
    assert _resolved_face() == named  # the default sans-serif font is that same face


def test_the_course_face_covers_every_chinese_token():
    register_cjk_font()
    path, index, family = _resolved_face()
    cmap = TTFont(path, fontNumber=index, lazy=True).getBestCmap()  # code point -> glyph name, of that one face
    for text in (SENTENCE_ZH, "".join(TOKENS_ZH)):
        missing = [c for c in text if ord(c) not in cmap]
        assert missing == [], f"{family} (face {index} of {path}) has no glyph for {missing}"


def test_a_latin_only_font_fails_the_same_check():
    """The check can fail: DejaVu Sans, matplotlib's own font, lacks these glyphs."""
    path, index, _ = _resolved_face("DejaVu Sans")
    cmap = TTFont(path, fontNumber=index, lazy=True).getBestCmap()
    assert all(ord(c) not in cmap for c in SENTENCE_ZH)
