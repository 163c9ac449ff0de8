"""The browser test's machinery: a real JupyterLab driven by headless Chromium through Playwright.

The tests live in ``test_browser.py`` (notebooks 01-05, the handout) and ``test_browser_second_wave.py``
(06-09): two files, so that ``make test``'s two workers (``--dist loadfile``) run them side by side.

For each notebook: Run All, no error output, every explorer renders; then at least two controls of each
explorer are moved and the PNG bytes behind its ``<img class="widget-image">`` must change each time.
Screenshots go to ``tests/artifacts/`` (and, with ``--screenshots-to=DIR``, one small one per explorer to DIR);
slider → new image latency goes to ``tests/artifacts/browser_latency.json``.

JupyterLab runs on a temporary copy of ``notebooks/`` with its own config, runtime, workspace and settings
directories (autosave off), so Run All never rewrites a tracked notebook.
"""

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from benchmarks.code_hash import code_hash
from mha_lib import viz

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_INSTALL = "sudo apt-get update && sudo apt-get install -y chromium   (as root: make browser-deps)"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 1000}
DOCS_MAX_WIDTH = 900  # px of a --screenshots-to image
SERVER_START_S = 90
RUN_ALL_S = 120  # Run All of one notebook, kernel start included
TRAINING_RUN_ALL_S = {"07_trained_heads": 300}  # notebooks that train models in their cells (~30 s on a quiet machine)
IMAGE_CHANGE_S = 30  # one control change → new PNG
MIN_SELECT_PX = 48  # narrower, a dropdown shows no more than its arrow
LATENCY_MOVES = 12
LATENCY_EXPLORER = ("heads", "seed")  # explorer kind and slider measured at default size

# Lab settings: no autosave (tracked notebooks stay as they are), no news or update checks (no network),
# every cell in the DOM (no windowing), no extension manager.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/extensionmanager-extension/plugin": {"enabled": False},
}

# Page-side helpers. The PNG of an ipywidgets.Image sits behind a blob: URL renewed (and the old one revoked)
# on every update, so the bytes are fetched and hashed; a revoked URL gives null and is asked again.
DIGEST_JS = """async (img) => {
  if (!img.src || !img.src.startsWith('blob:')) return null;
  try {
    const buffer = await (await fetch(img.src)).arrayBuffer();
    const bytes = new Uint8Array(buffer);
    const png = bytes.length > 8 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', buffer));
    return {size: bytes.length, png, hash: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')};
  } catch (error) {
    return null;
  }
}"""
ERRORS_JS = """() => Array.from(document.querySelectorAll('.jp-OutputArea-output, .jupyter-widgets-error-widget'))
  .filter((el) => el.classList.contains('jupyter-widgets-error-widget')
    || (el.dataset.mimeType === 'application/vnd.jupyter.stderr' && /Traceback|\\w+Error\\b/.test(el.textContent))
    || /Error displaying widget|Error rendering|Failed to create view/.test(el.textContent))
  .map((el) => el.textContent.slice(0, 3000))"""
# Controls a learner cannot read: a label wider than its box (cut off), a dropdown squeezed below MIN_SELECT_PX.
ILLEGIBLE_JS = """([root, minSelect]) => Array.from(root.querySelectorAll('.widget-label, .widget-label-basic, select'))
  .filter((el) => el.clientWidth > 0)
  .filter((el) => (el.tagName === 'SELECT' ? el.clientWidth < minSelect : el.scrollWidth > el.clientWidth + 2))
  .map((el) => (el.tagName === 'SELECT'
    ? `dropdown showing "${el.options[el.selectedIndex]?.textContent}": ${el.clientWidth} px wide`
    : `label "${el.textContent.trim()}": ${el.clientWidth} px wide, needs ${el.scrollWidth} px`))"""
# Chinese a learner cannot read. Every CJK character of the explorer's text is drawn on a canvas in its element's
# computed font and compared with U+E000, a private-use code point no font covers: equal pixels = a missing-glyph
# box. Native tooltips (title=) are drawn by the browser's UI, never with a page font: no CJK may sit there.
GLYPHS_JS = """async (root) => {
  const cjk = /[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]/gu;
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 48;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const draw = (font, ch) => {
    ctx.clearRect(0, 0, 48, 48);
    ctx.font = font;
    ctx.textBaseline = 'top';
    ctx.fillText(ch, 4, 4);
    return ctx.getImageData(0, 0, 48, 48).data;
  };
  const describe = (el) => `<${el.tagName.toLowerCase()} class="${el.className}"> "${el.textContent.trim().slice(0, 60)}"`;
  const checked = [], missing = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest('style')) continue;
    const style = getComputedStyle(el);
    const font = `${style.fontStyle} ${style.fontWeight} 32px ${style.fontFamily}`;
    for (const ch of new Set(node.textContent.match(cjk) || [])) {
      await document.fonts.load(font, ch);
      const glyph = draw(font, ch), box = draw(font, '\ue000');
      checked.push(ch);
      if (glyph.every((v, i) => v === box[i])) missing.push(`${ch} in ${describe(el)}, font ${style.fontFamily}`);
    }
  }
  const titles = Array.from(root.querySelectorAll('[title]'), (el) => el.getAttribute('title'))
    .filter((t) => t.match(cjk));
  return {checked: [...new Set(checked)].join(''), missing, titles};
}"""
CELL_COLOURS_JS = """(root) => ['.mha-cell.mod-active', '.mha-cell:not(.mod-active)']
  .map((css) => root.querySelector(css)).map((el) => el && getComputedStyle(el).backgroundColor)"""
LOG_COUNT_JS = "() => Number(document.querySelector('.jp-LogConsoleStatusItem')?.textContent.trim() || 0)"
PROMPTS_JS = """() => Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt'),
  (el) => el.textContent.trim())"""
RUN_STARTED_JS = f"() => ({PROMPTS_JS})().some((p) => p.includes('*'))"
# Done: kernel idle, nothing queued, and the fresh kernel's execution count reached the number of non-empty code
# cells, or an error stopped Run All.
RUN_DONE_JS = f"""(expected) => {{
  const indicator = document.querySelector('.jp-Notebook-ExecutionIndicator');
  if (!indicator || indicator.dataset.status !== 'idle') return false;
  const prompts = ({PROMPTS_JS})();
  if (prompts.some((p) => p.includes('*'))) return false;
  const counts = prompts.map((p) => Number((/^\\[(\\d+)\\]:$/.exec(p) || [0, 0])[1]));
  return Math.max(0, ...counts) >= expected || ({ERRORS_JS})().length > 0;
}}"""
LATENCY_SETUP_JS = """([img, handle]) => {
  const rec = {keys: [], src: [], load: []};
  new MutationObserver(() => rec.src.push(performance.now())).observe(img, {attributes: true, attributeFilter: ['src']});
  img.addEventListener('load', () => rec.load.push(performance.now()));
  handle.addEventListener('keydown', () => rec.keys.push(performance.now()), {capture: true});
  window.__mhaLatency = rec;
}"""


@dataclass
class Lab:
    url: str
    token: str
    root: Path  # the copy of notebooks/ it serves
    log: Path

    def api(self, path: str, method: str = "GET") -> bytes:
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read()

    def shutdown_kernels(self) -> None:
        for session in json.loads(self.api("/api/sessions")):
            self.api(f"/api/sessions/{session['id']}", method="DELETE")

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else "(no server log)"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the server, SIGKILL it after 15 s, then SIGKILL whatever is left in its process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # kernels it may have left behind; the group is the server's own


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab from this venv on 127.0.0.1, a free port and a random token, serving a copy of notebooks/."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    settings_dir = base / "settings"
    for plugin, values in LAB_SETTINGS.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env |= {
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings_dir),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    port, token = _free_port(), secrets.token_hex(16)
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        *(["--allow-root"] if os.geteuid() == 0 else []),
    ]
    log = base / "server.log"
    server = Lab(url=f"http://127.0.0.1:{port}", token=token, root=root, log=log)
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {process.returncode}:\n{server.log_tail()}")
            try:
                server.api("/api/status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"JupyterLab did not answer /api/status within {SERVER_START_S} s:\n{server.log_tail()}"
                    )
                time.sleep(0.25)
        yield server
    finally:
        _stop(process)


def _no_cjk_fontconfig(directory: Path) -> Path:
    """A fontconfig file: the system fonts minus any that covers Chinese, so Chromium sees what a learner's fresh
    machine has (no CJK font) even where one is installed; the explorers must bring their own glyphs."""
    path = directory / "fonts.conf"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        '<include ignore_missing="yes">/etc/fonts/fonts.conf</include>'
        f"<cachedir>{directory / 'cache'}</cachedir>"
        '<selectfont><rejectfont><pattern><patelt name="lang"><string>zh</string></patelt></pattern>'
        "</rejectfont></selectfont></fontconfig>"
    )
    if shutil.which("fc-list"):  # the rejection works: no font for Chinese is left
        found = subprocess.run(
            ["fc-list", ":lang=zh"], env={**os.environ, "FONTCONFIG_FILE": str(path)}, capture_output=True, text=True
        )
        assert found.stdout.strip() == "", f"fontconfig still offers CJK fonts: {found.stdout[:500]}"
    return path


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory: pytest.TempPathFactory):
    """Headless Debian Chromium (never a Playwright download); a missing browser fails with the install command."""
    if not CHROMIUM.exists():
        pytest.fail(f"The browser test needs Debian's chromium at {CHROMIUM}. Install it with:\n    {CHROMIUM_INSTALL}")
    from playwright.sync_api import sync_playwright

    env = {**os.environ, "FONTCONFIG_FILE": str(_no_cjk_fontconfig(tmp_path_factory.mktemp("fonts")))}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=env)
        try:
            context = browser.new_context(viewport=VIEWPORT)
            context.set_default_timeout(30_000)
            yield context
            context.close()
        finally:
            browser.close()


# ---------------------------------------------------------------------------------------------------------------
# Page helpers


def _code_cells(notebook: Path) -> int:
    """Non-empty code cells: the ones Run All numbers."""
    cells = nbformat.read(notebook, as_version=4).cells
    return sum(1 for c in cells if c.cell_type == "code" and c.source.strip())


def _uses_explorer(notebook: Path) -> bool:
    cells = nbformat.read(notebook, as_version=4).cells
    return any(re.search(r"\bexplore_\w+\(", c.source) for c in cells if c.cell_type == "code")


def _errors(page) -> list[str]:
    return page.evaluate(ERRORS_JS)


def _assert_no_errors(page, when: str) -> None:
    """No error in an output area, and nothing in the log console, where a failing widget callback lands."""
    errors = _errors(page)
    assert not errors, f"error output {when}:\n" + "\n---\n".join(errors)
    if page.evaluate(LOG_COUNT_JS):
        page.locator(".jp-LogConsoleStatusItem").click()
        panel = page.locator(".jp-LogConsolePanel")
        panel.wait_for()
        time.sleep(0.5)  # let the messages render
        raise AssertionError(f"log console messages {when} (a widget callback failed?):\n{panel.inner_text()[-3000:]}")


def _menu(page, menu: str, command: str) -> bool:
    """Click ``menu`` → the item running ``command``; False (menu closed) if that item is disabled."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^\s*{menu}\s*$")).click()
    item = page.locator(f'.lm-Menu-item[data-command="{command}"]')
    item.wait_for()
    if "lm-mod-disabled" in (item.get_attribute("class") or ""):
        page.keyboard.press("Escape")
        return False
    item.click()
    return True


def _run_all(page, expected_cells: int, timeout_s: float = RUN_ALL_S) -> None:
    """Expand All Code (a hidden input has no prompt to read), then Run All, retried until a [*] prompt shows
    it started: a click before the notebook is the current widget is lost."""
    first_cell = page.locator(".jp-Notebook .jp-Cell").first
    first_cell.wait_for(timeout=90_000)
    # the notebook panel's loading spinner covers the cells until the kernel session is up (slow on a busy machine)
    page.wait_for_function(
        "() => !document.querySelector('.jp-NotebookPanel .jp-Spinner')", timeout=SERVER_START_S * 1000
    )
    for _ in range(5):
        first_cell.click()
        if not (_menu(page, "View", "notebook:show-all-cell-code") and _menu(page, "Run", "runmenu:run-all")):
            time.sleep(0.5)
            continue
        try:
            page.wait_for_function(RUN_STARTED_JS, timeout=10_000, polling=100)
            break
        except Exception:  # playwright's TimeoutError: not started, try again
            continue
    else:
        pytest.fail("Run All never started (no [*] prompt after 5 tries)")
    try:
        page.wait_for_function(RUN_DONE_JS, arg=expected_cells, timeout=timeout_s * 1000, polling=250)
    except Exception as error:  # playwright's TimeoutError: say what was left
        prompts = page.evaluate(PROMPTS_JS)
        status = page.locator(".jp-Notebook-ExecutionIndicator").first.get_attribute("data-status")
        raise AssertionError(
            f"Run All not done after {timeout_s} s: kernel {status}, {expected_cells} code cells expected, "
            f"prompts {prompts}"
        ) from error


def _digest(img) -> dict:
    deadline = time.monotonic() + IMAGE_CHANGE_S
    while (digest := img.evaluate(DIGEST_JS)) is None:
        assert time.monotonic() < deadline, "the explorer image never got PNG bytes"
        time.sleep(0.1)
    return digest


def _wait_new_image(page, img, before: dict, what: str) -> dict:
    deadline = time.monotonic() + IMAGE_CHANGE_S
    while (after := _digest(img))["hash"] == before["hash"]:
        _assert_no_errors(page, f"after {what}")
        assert time.monotonic() < deadline, f"{what}: the image bytes did not change within {IMAGE_CHANGE_S} s"
        time.sleep(0.1)
    assert after["png"] and after["size"] > 0, f"{what}: the new image is not a PNG"
    _assert_no_errors(page, f"after {what}")
    return after


def _control(explorer, css: str, label: str):
    """The one control of type ``css`` whose description (label or text) matches ``label``."""
    if css == ".widget-checkbox":  # its description is the text beside the box
        found = explorer.locator(css).filter(has_text=re.compile(label))
    else:
        found = explorer.locator(css).filter(has=explorer.page.locator(".widget-label", has_text=re.compile(label)))
    assert found.count() == 1, f"expected one {css} labelled {label!r}, found {found.count()}"
    return found


def _move_slider(explorer, label: str) -> str:
    slider = _control(explorer, ".widget-slider", label)
    readout = slider.locator(".widget-readout")
    before = readout.inner_text()
    handle = slider.locator(".noUi-handle")
    for key in ("ArrowRight", "ArrowLeft"):  # at its maximum, step down instead
        handle.press(key)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            if (after := readout.inner_text()) != before:
                return f"slider {label!r}: {before} → {after}"
            time.sleep(0.05)
    raise AssertionError(f"slider {label!r} did not move from {before}")


def _pick_dropdown(explorer, label: str) -> str:
    select = _control(explorer, ".widget-dropdown", label).locator("select")
    options = select.evaluate("(el) => Array.from(el.options, (o) => o.textContent)")
    current = select.evaluate("(el) => el.options[el.selectedIndex].textContent")
    index = options.index(current)
    choice = options[index + 1] if index + 1 < len(options) else options[index - 1]
    select.select_option(label=choice)
    return f"dropdown {label!r}: {current} → {choice}"


def _pick_toggle(explorer, label: str, prefer: str) -> str:
    group = _control(explorer, ".widget-toggle-buttons", label)
    idle = group.locator("button:not(.mod-active)")
    target = idle.filter(has_text=re.compile(rf"^\s*{prefer}\s*$"))
    button = target if target.count() else idle.first
    text = button.inner_text().strip()
    button.click()
    return f"toggle {label!r} → {text}"


def _click_checkbox(explorer, label: str) -> str:
    _control(explorer, ".widget-checkbox", label).locator("input[type=checkbox]").click()
    return f"checkbox {label!r}"


def _type_text(explorer, label: str, text: str) -> str:
    box = _control(explorer, ".widget-text", label).locator("input")
    box.fill(text)
    box.press("Enter")  # the text box updates on Enter only
    return f"text {label!r} → {text!r}"


def _click_mask_cell(explorer, query: int, key: int) -> str:
    button = explorer.locator(f'button[title="query {query} → key {key}"]')
    assert button.count() == 1, f"no toggle button for mask cell ({query}, {key})"
    button.click()
    return f"mask cell ({query}, {key})"


# Explorer kind → the label only it has, and the controls to move (in order; each must change the image).
KINDS = {
    "qkv": "^query row$",
    "scaling": "^temperature$",
    "masking": "^valid length$",
    "heads": r"^heads \(divisors",
    "cross": "^target length",
    "tiling": "^query block$",
    "kv_cache": r"^KV heads \(of",
    "positions": "^offset k",
    "pretrained": r"^sentence \(press Enter\)$",
    "training": "^training checkpoint$",
}
PLANS = {
    "qkv": [(_move_slider, "^sequence length T$"), (_move_slider, r"^d_k \("), (_move_slider, "^query row$")],
    "scaling": [(_move_slider, "^temperature$"), (_click_checkbox, "scale scores"), (_move_slider, "^d_k$")],
    "masking": [
        (_pick_toggle, "^mask", "causal"),
        (_move_slider, "^sequence length T$"),
        (_click_mask_cell, 0, 1),  # blocked by the causal mask: clicking opens it (kind → custom)
    ],
    "heads": [
        (_pick_dropdown, "^heads"),
        (_pick_toggle, "^mask", "causal"),
        (_move_slider, "^sequence length T$"),
        (_click_checkbox, "wrong split"),
    ],
    "cross": [(_move_slider, "^target length"), (_pick_dropdown, "^heads$"), (_move_slider, "^source valid length$")],
    "tiling": [(_move_slider, "^tiles read$"), (_move_slider, "^key block$"), (_click_checkbox, "causal")],
    "kv_cache": [(_move_slider, "^tokens decoded$"), (_move_slider, r"^KV heads"), (_move_slider, "^seed$")],
    "positions": [
        (_pick_toggle, "^encoding$", "rotary"),
        (_move_slider, "^offset k"),
        (_pick_toggle, "^encoding$", "alibi"),
        (_move_slider, "^ALiBi head$"),  # enabled for alibi only
    ],
    "pretrained": [
        (_pick_toggle, "^head$", "2"),
        (_pick_toggle, "^show$", "weight × value norm"),
        (_type_text, r"^sentence \(press Enter\)$", "The dog chased the ball across the park."),
    ],
    "training": [(_move_slider, "^training checkpoint$"), (_move_slider, "^head$"), (_pick_toggle, "^task", "reverse")],
}


# A control the keyboard can change: a slider handle (arrows) or an idle button of a ToggleButtons group (Space).
KEYBOARD_TARGET_JS = """(root) => {
  const el = document.activeElement;
  if (!root.contains(el)) return null;
  if (el.classList.contains('noUi-handle')) return 'slider';
  if (el.closest('.widget-toggle-buttons') && !el.classList.contains('mod-active')) return 'toggle';
  return null;
}"""


def _tab_to_control(page, explorer) -> str:
    """Keyboard only: focus the explorer's first control, press Tab until a slider handle or an idle toggle
    button of this explorer has the focus, then change it with the keyboard; returns what moved."""
    explorer.evaluate("(root) => root.querySelector('button, select, input, .noUi-handle').focus()")
    for _ in range(80):
        page.keyboard.press("Tab")
        if target := page.evaluate(KEYBOARD_TARGET_JS, explorer.element_handle()):
            break
    else:
        raise AssertionError("no slider or toggle button of this explorer was reached with Tab")
    if target == "toggle":
        text = page.evaluate("() => document.activeElement.textContent.trim()")
        page.keyboard.press("Space")
        return f"keyboard: toggle button {text!r}"
    readout = page.evaluate_handle(
        "() => document.activeElement.closest('.widget-slider').querySelector('.widget-readout')"
    )
    before = readout.evaluate("(el) => el.textContent")
    for key in ("ArrowRight", "ArrowLeft"):
        page.keyboard.press(key)
        time.sleep(0.3)
        if (after := readout.evaluate("(el) => el.textContent")) != before:
            return f"keyboard: slider {before} → {after}"
    raise AssertionError(f"the focused slider did not move by keyboard from {before}")


def _label_font_px(explorer) -> float:
    return explorer.locator(".widget-label").first.evaluate("(el) => parseFloat(getComputedStyle(el).fontSize)")


def _assert_cjk_glyphs(explorer, kind: str) -> str:
    """Every CJK character in the explorer's text draws with a real glyph, and none sits in a native tooltip."""
    found = explorer.evaluate(GLYPHS_JS)
    assert not found["missing"], f"explorer {kind}: CJK characters drawn as boxes: {found['missing']}"
    assert not found["titles"], (
        f"explorer {kind}: CJK in native tooltips (drawn without the page's font): {found['titles']}"
    )
    return found["checked"]


def _rgb(colour: str) -> str:
    return "rgb({}, {}, {})".format(*(int(colour[i : i + 2], 16) for i in (1, 3, 5)))


def _kind(explorer) -> str:
    labels = explorer.locator(".widget-label").all_inner_texts()
    kinds = [k for k, pattern in KINDS.items() if any(re.search(pattern, t.strip()) for t in labels)]
    assert len(kinds) == 1, f"cannot tell which explorer has the labels {labels}; add it to KINDS and PLANS"
    return kinds[0]


def _measure_latency(page, explorer, img, notebook: str, kind: str, label: str) -> dict:
    """Key press on a slider → new image src (new bytes) and → its load event, LATENCY_MOVES times.

    Writes tests/artifacts/browser_latency.json and returns the digest of the last image.
    """
    handle = _control(explorer, ".widget-slider", f"^{label}$").locator(".noUi-handle")
    page.evaluate(LATENCY_SETUP_JS, [img.element_handle(), handle.element_handle()])
    before = _digest(img)
    for move in range(LATENCY_MOVES):
        loads = page.evaluate("window.__mhaLatency.load.length")
        handle.press("ArrowRight")
        page.wait_for_function(f"window.__mhaLatency.load.length > {loads}", timeout=IMAGE_CHANGE_S * 1000)
        before = _wait_new_image(page, img, before, f"latency move {move + 1} of {label!r}")
    record = page.evaluate("window.__mhaLatency")
    assert len(record["keys"]) == LATENCY_MOVES, f"expected {LATENCY_MOVES} key presses, saw {len(record['keys'])}"

    def after_each_key(times: list[float]) -> list[float]:
        return [round(min(t for t in times if t >= key) - key, 1) for key in record["keys"]]

    src, load = after_each_key(record["src"]), after_each_key(record["load"])
    result = {
        "code_hash": code_hash(),
        "notebook": notebook,
        "explorer": kind,
        "control": label,
        "what": "key press on the slider handle → new PNG bytes in the <img> (src); load = decoded",
        "n": len(src),
        "p50_ms": round(statistics.median(src), 1),
        "p90_ms": round(statistics.quantiles(src, n=10, method="inclusive")[-1], 1),
        "samples_ms": src,
        "load_p50_ms": round(statistics.median(load), 1),
        "load_p90_ms": round(statistics.quantiles(load, n=10, method="inclusive")[-1], 1),
        "load_samples_ms": load,
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "browser_latency.json").write_text(json.dumps(result, indent=2) + "\n")
    return before


def _docs_screenshot(page, explorer, path: Path) -> None:
    """A screenshot of the explorer element no wider than DOCS_MAX_WIDTH px (the page is narrowed if needed)."""
    width = explorer.bounding_box()["width"]
    if width > DOCS_MAX_WIDTH:
        page.set_viewport_size(
            {"width": VIEWPORT["width"] - int(width - DOCS_MAX_WIDTH) - 8, "height": VIEWPORT["height"]}
        )
        time.sleep(0.5)  # let the layout settle
    try:
        explorer.screenshot(path=path)
    finally:
        page.set_viewport_size(VIEWPORT)


# ---------------------------------------------------------------------------------------------------------------


def check_notebook_in_browser(notebook: Path, lab: Lab, browser_context, request: pytest.FixtureRequest) -> None:
    """Run All in JupyterLab, no error anywhere; then every explorer: PNG bytes, each planned control and one
    reached by keyboard change them, Chinese glyphs drawn, projector mode enlarges, controls legible."""
    screenshots_to = request.config.getoption("screenshots_to")
    docs_dir = Path(request.config.invocation_params.dir, screenshots_to) if screenshots_to else None
    (ARTIFACTS / f"{notebook.stem}_failure.png").unlink(missing_ok=True)
    page = browser_context.new_page()
    try:
        page.goto(f"{lab.url}/lab/tree/{notebook.name}?token={lab.token}&reset")
        _run_all(page, _code_cells(lab.root / notebook.name), TRAINING_RUN_ALL_S.get(notebook.stem, RUN_ALL_S))
        _assert_no_errors(page, "after Run All")

        explorers = page.locator(".mha-explorer")
        if _uses_explorer(lab.root / notebook.name):
            explorers.first.wait_for()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for index in range(explorers.count()):
            explorer = explorers.nth(index)
            explorer.scroll_into_view_if_needed()
            kind = _kind(explorer)
            img = explorer.locator("img.widget-image")
            assert img.count() == 1, f"explorer {kind}: expected one img.widget-image, found {img.count()}"
            image = _digest(img)
            assert image["png"] and image["size"] > 0, f"explorer {kind}: no PNG bytes"
            assert img.evaluate("(el) => el.naturalWidth") > 0, f"explorer {kind}: the PNG did not decode"
            if docs_dir is not None:  # the view a learner first sees, for the README
                docs_dir.mkdir(parents=True, exist_ok=True)
                name = notebook.stem if explorers.count() == 1 else f"{notebook.stem}_{kind}"
                _docs_screenshot(page, explorer, docs_dir / f"{name}.png")
            if kind == LATENCY_EXPLORER[0]:  # at its default size, before any other control moves
                image = _measure_latency(page, explorer, img, notebook.stem, kind, LATENCY_EXPLORER[1])
            moved = []
            for action, *args in PLANS[kind]:
                what = action(explorer, *args)
                image = _wait_new_image(page, img, image, f"{kind}: {what}")
                moved.append(what)
            assert len(moved) >= 2, f"explorer {kind}: moved only {moved}"
            what = _tab_to_control(page, explorer)
            image = _wait_new_image(page, img, image, f"{kind}: {what}")
            checked = _assert_cjk_glyphs(explorer, kind)
            if kind in ("masking", "cross"):  # token names in the grid; "source length Tk (中文)"
                assert checked, f"explorer {kind}: no CJK text found to check"
            if kind == "masking":  # the toggle grid in the heatmap's colours: blue = may attend, grey = blocked
                colours = explorer.evaluate(CELL_COLOURS_JS)
                assert colours == [_rgb(viz.style.ALLOWED_COLOR), _rgb(viz.style.BLOCKED_COLOR)], colours
            explorer.screenshot(path=ARTIFACTS / f"{notebook.stem}_{index}_{kind}.png")
            screen_font, screen_width = _label_font_px(explorer), img.evaluate("(el) => el.naturalWidth")
            projector = explorer.locator(".widget-toggle-button", has_text="projector")
            projector.click()
            image = _wait_new_image(page, img, image, f"{kind}: projector mode on")
            assert _label_font_px(explorer) > screen_font, f"explorer {kind}: projector mode did not enlarge labels"
            assert img.evaluate("(el) => el.naturalWidth") > screen_width, f"explorer {kind}: same picture size"
            explorer.screenshot(path=ARTIFACTS / f"{notebook.stem}_{index}_{kind}_projector.png")
            projector.click()
            image = _wait_new_image(page, img, image, f"{kind}: projector mode off")
            illegible = page.evaluate(ILLEGIBLE_JS, [explorer.element_handle(), MIN_SELECT_PX])
            assert not illegible, f"explorer {kind}: controls a learner cannot read: {illegible}"
    except BaseException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):  # keep the original error if the page is gone
            page.screenshot(path=ARTIFACTS / f"{notebook.stem}_failure.png", full_page=True)
        raise
    finally:
        page.close()
        with contextlib.suppress(OSError):  # a server that died is reported by the error above
            lab.shutdown_kernels()
