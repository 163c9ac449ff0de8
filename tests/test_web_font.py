"""The CJK web font shipped in the explorers' CSS: a WOFF subset of Noto Sans CJK SC covering the course's Chinese."""

import base64
import io
import re

from fontTools.ttLib import TTFont

from mha_lib.widgets import explore_masking, fonts


def _shipped() -> TTFont:
    return TTFont(io.BytesIO(fonts.SUBSET_PATH.read_bytes()))


def test_subset_covers_every_cjk_character_of_the_package():
    font = _shipped()
    assert fonts.SUBSET_PATH.read_bytes()[:4] == b"wOFF"  # the WOFF signature
    assert font["name"].getDebugName(1) == fonts.SOURCE_FACE
    characters = fonts.course_cjk_characters()
    assert set("我想吃酸菜鱼中文") <= set(characters)  # the tokens and the cross explorer's "(中文)"
    missing = [c for c in characters if ord(c) not in font.getBestCmap()]
    assert missing == [], f"cjk_subset.woff lacks {missing}: run mha_lib.widgets.fonts.write_subset()"


def test_subset_is_small():
    assert fonts.SUBSET_PATH.stat().st_size < 20_000  # 6.7 KB for 15 characters


def test_every_explorer_carries_the_font_face():
    css = explore_masking().children[0].value  # the explorer's <style>
    match = re.search(r"url\(data:font/woff;base64,([A-Za-z0-9+/=]+)\)", css)
    assert match and base64.b64decode(match.group(1)) == fonts.SUBSET_PATH.read_bytes()
    assert f'font-family: "{fonts.WEB_FAMILY}"' in css
    ranges = re.search(r"unicode-range: ([^;]+);", css).group(1)
    assert {chr(int(r[2:], 16)) for r in ranges.split(", ")} == set(fonts.course_cjk_characters())
