"""`make handout`: every notebook, in order, as one static HTML page with its stored figures.

Nothing is executed and nothing is fetched: the page uses the outputs saved in the notebooks (a live
explorer's place is taken by the snapshot PNG its notebook stores just above it), renders math to MathML
ahead of time (latex2mathml; Chromium draws MathML without any script) and embeds every image as a data URL,
so the file works offline, printed or mailed. Usage: ``python docs/handout.py [OUT_DIR]``.

>>> _math_to_mathml("energy $E = mc^2$ here").count("<math")
1
"""

import html
import re
import sys
from pathlib import Path

import mistune
import nbformat
from latex2mathml.converter import convert

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
OUT = ROOT / "build" / "handout"
MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\s)(.+?)(?<![\s\\])\$", re.DOTALL)
CODE_SPANS = re.compile(r"(```.*?```|`[^`\n]*`)", re.DOTALL)
STYLE = """
body { font-family: "Noto Sans", "DejaVu Sans", sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #222; }
nav { border: 1px solid #ccc; padding: 0.5rem 1.5rem; margin-bottom: 2rem; }
section.notebook { page-break-before: always; }
pre { background: #f6f6f6; padding: 0.5rem; overflow-x: auto; font-size: 0.85rem; }
pre.output { background: #fff; border-left: 3px solid #bbb; }
img { max-width: 100%; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 0.2rem 0.5rem; }
details summary { cursor: pointer; color: #555; }
"""
_markdown = mistune.create_markdown(escape=False, plugins=["table", "strikethrough"])


def _math_to_mathml(text: str) -> str:
    """Every $…$ and $$…$$ outside code spans replaced by MathML (display math for $$)."""

    def one(match: re.Match) -> str:
        display, inline = match.group(1), match.group(2)
        return convert(display or inline, display="block" if display else "inline")

    parts = CODE_SPANS.split(text)
    return "".join(part if i % 2 else MATH.sub(one, part) for i, part in enumerate(parts))


def _slug(text: str, used: set[str]) -> str:
    slug = re.sub(r"[^\w]+", "-", text.lower()).strip("-") or "section"
    while slug in used:
        slug += "-"
    used.add(slug)
    return slug


def _outputs(cell) -> list[str]:
    """HTML for a code cell's stored outputs: PNG figures, text; widget views have no picture to show."""
    parts = []
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if output.get("output_type") == "stream":
            parts.append(f'<pre class="output">{html.escape(output.get("text", ""))}</pre>')
        elif "image/png" in data:
            parts.append(f'<img alt="figure" src="data:image/png;base64,{data["image/png"].strip()}">')
        elif "application/vnd.jupyter.widget-view+json" in data:
            parts.append(
                "<p><em>(live explorer: run the notebook to use it; the picture above is its default view)</em></p>"
            )
        elif "text/plain" in data:
            parts.append(f'<pre class="output">{html.escape(data["text/plain"])}</pre>')
    return parts


def notebook_html(path: Path, used: set[str]) -> tuple[str, list[tuple[int, str, str]]]:
    """One notebook as an HTML section, and its headings (level, id, text) for the table of contents."""
    nb = nbformat.read(path, as_version=4)
    body, headings = [], []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            rendered = _markdown(_math_to_mathml(cell.source))

            def anchor(match: re.Match) -> str:
                level, text = int(match.group(1)), re.sub(r"<[^>]+>", "", match.group(2))
                slug = _slug(f"{path.stem}-{text}", used)
                if level <= 2:
                    headings.append((level, slug, text))
                return f'<h{level} id="{slug}">{match.group(2)}</h{level}>'

            body.append(re.sub(r"<h([1-6])>(.*?)</h\1>", anchor, rendered, flags=re.DOTALL))
        elif cell.cell_type == "code" and cell.source.strip():
            code = f"<pre>{html.escape(cell.source)}</pre>"
            if cell.metadata.get("jupyter", {}).get("source_hidden"):
                code = f"<details><summary>show the code</summary>{code}</details>"
            body.append(code + "".join(_outputs(cell)))
    return f'<section class="notebook" id="{path.stem}">' + "\n".join(body) + "</section>", headings


def build(out_dir: Path = OUT) -> Path:
    """Write ``index.html`` with every notebook in order and a table of contents; returns its path."""
    used: set[str] = set()
    sections, toc = [], []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        section, headings = notebook_html(path, used)
        sections.append(section)
        (_, top, title), *rest = headings
        subsections = "".join(f'<li><a href="#{slug}">{html.escape(text)}</a></li>' for _, slug, text in rest)
        toc.append(f'<li><a href="#{top}">{html.escape(title)}</a><ul>{subsections}</ul></li>')
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Attention, taught interactively</title>'
        f"<style>{STYLE}</style></head><body><h1>Attention, taught interactively — handout</h1>"
        f"<nav><h2>Contents</h2><ol>{''.join(toc)}</ol></nav>" + "\n".join(sections) + "</body></html>"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
