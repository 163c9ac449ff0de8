"""A class on one JupyterHub: N simulated students open notebook 01, run its explorer and move a slider at once.

Everything runs on 127.0.0.1: the hub, configurable-http-proxy (``benchmarks/proxy``, installed by ``make proxy``)
and one single-user server per student, each on a free port, with random tokens and every piece of state
(database, cookie secret, homes, Jupyter directories) in a temporary folder removed at the end. The students
do what JupyterLab does for a learner, through the hub's proxy only:

1. the hub's REST API creates the users and starts their servers, all at once (spawn time per student);
2. each student follows the course's nbgitpuller link (README "Teaching a class"), which clones this checkout's
   HEAD (from a bare copy in the temporary folder) into their home;
3. each student opens ``notebooks/01_qkv_projections.ipynb`` there (contents API), starts a kernel for it (sessions
   API) and speaks the Jupyter protocol over the kernel's websocket: every code cell up to the one that shows
   the explorer runs, as a learner's Run All up to there would;
4. a control moves the way a dragged slider does: a widget ``update`` comm message with the new value, and the
   time until the explorer's new PNG arrives (the image model's ``update``, bytes hashed and compared with the
   previous ones). One student alone first, the others idle; then every student at once, K moves each;
5. resident memory of each student's kernel and single-user server is read from the hub's process tree, whose
   sockets are also read every second of the run: every one must be on 127.0.0.1 at both ends.

Run ``python -m benchmarks.classroom --students 10 --moves 20`` (``make classroom-test N=10`` runs the test at
that size). Every wait has a timeout, the whole run a deadline, and the hub with everything it started is
stopped in a ``finally``.
"""

import argparse
import ast
import contextlib
import datetime
import hashlib
import ipaddress
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
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path

import psutil
import websocket
from jupyter_client.jsonutil import json_default
from jupyter_client.session import Session
from jupyter_server.services.kernels.connection.base import deserialize_binary_message

from benchmarks.code_hash import ROOT, code_hash

HOST = "127.0.0.1"
PROXY = ROOT / "benchmarks" / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"
PROXY_INSTALL = "make proxy   (npm ci --prefix benchmarks/proxy; needs node >= 20 and npm)"
NOTEBOOKS = ROOT / "notebooks"
NOTEBOOK = "01_qkv_projections.ipynb"
COURSE = "attention-course"  # the repository's folder in each home: the last part of its URL (no ".git")
CONTROL = "seed"  # the slider moved; every value gives other weights, so another image
SEED_VALUES = 100  # the seed slider goes from 0 to 99
STUDENTS = int(os.environ.get("CLASSROOM_STUDENTS", "10"))
MOVES = int(os.environ.get("CLASSROOM_MOVES", "20"))
OUTPUT = ROOT / "benchmarks" / "classroom.json"
MAX_STUDENTS = 20  # what 2 cores and 24 GB start within the time limits below
HUB_START_S = 60
SPAWN_S = 240  # every student's server, spawned at once
CELL_S = 300  # one cell, the kernel's first ``import torch`` among N at once included
MOVE_S = 30  # one control move → new image
PULL_S = 120  # nbgitpuller's clone of the course into a home
REQUEST_S = 30  # one HTTP request
POLL_S = 0.25
SOCKET_WATCH_S = 1.0  # how often every socket of the hub's tree is read during the run
SERVER_GB = 16  # the sizing rule: students per server of this size ...
SYSTEM_RESERVE_MB = 2048  # ... after the operating system, page cache headroom, hub and proxy
STOP_S = 20


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _percentiles(samples: list[float]) -> dict:
    """p50, p90 and max of ``samples`` (n included); empty when there are none."""
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {"n": len(ordered), "p50": statistics.median(ordered), "p90": p90, "max": ordered[-1]}


def gitpuller_link(hub_url: str, repo_url: str, notebook: str, branch: str = "main") -> str:
    """The link a lecturer hands out: log in, start the student's server, clone or update the course there,
    open ``notebooks/<notebook>`` in JupyterLab.

    >>> gitpuller_link("https://HUB_HOST", "https://github.com/OWNER/REPO", "01_qkv_projections.ipynb")
    'https://HUB_HOST/hub/user-redirect/git-pull?repo=https%3A%2F%2Fgithub.com%2FOWNER%2FREPO&branch=main&urlpath=lab%2Ftree%2FREPO%2Fnotebooks%2F01_qkv_projections.ipynb'
    """
    folder = repo_url.rstrip("/").split("/")[-1]  # where nbgitpuller clones it, relative to the home
    if folder.endswith(".git"):
        raise ValueError(f"repo_url={repo_url!r}: leave out '.git', or the clone's folder is {folder!r}")
    query = {"repo": repo_url, "branch": branch, "urlpath": f"lab/tree/{folder}/notebooks/{notebook}"}
    return f"{hub_url}/hub/user-redirect/git-pull?{urllib.parse.urlencode(query)}"


def course_repository(base: Path) -> str:
    """A bare git repository in ``base`` holding this checkout's HEAD as ``main``: what students pull from."""
    bare = base / COURSE
    for command in (
        ["git", "init", "--quiet", "--bare", str(bare)],
        ["git", "-C", str(ROOT), "push", "--quiet", str(bare), "HEAD:refs/heads/main"],
    ):
        subprocess.run(command, check=True, timeout=REQUEST_S, capture_output=True)
    return f"file://{bare}"


def _json_request(url: str, token: str, method: str, body: dict | None = None) -> dict:
    """A JSON REST call with a token (the hub's API or a student server's), bounded by ``REQUEST_S``."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"token {token}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=REQUEST_S) as response:
        text = response.read()
    return json.loads(text) if text else {}


class Deadline:
    """The run's end: every wait is the smaller of its own timeout and what is left."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self, timeout: float) -> float:
        left = min(timeout, self.end - time.monotonic())
        if left <= 0:
            raise TimeoutError("the classroom run reached its deadline")
        return left


# ---------------------------------------------------------------------------------------------------------------
# The hub


@dataclass
class Hub:
    """A running JupyterHub: its public URL (the proxy), the service token and the process that started it all."""

    url: str
    token: str
    process: subprocess.Popen
    base: Path
    log: Path
    tree: dict[int, psutil.Process] = field(default_factory=dict)  # everything it started, seen so far
    lock: threading.Lock = field(default_factory=threading.Lock)  # the socket watch reads the tree too

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        """JSON from ``/hub/api{path}`` through the proxy, as the service."""
        return _json_request(f"{self.url}/hub/api{path}", self.token, method, body)

    def processes(self) -> list[psutil.Process]:
        """The hub's process tree now (proxy, servers, kernels), remembered for the clean-up."""
        with self.lock:
            with contextlib.suppress(psutil.NoSuchProcess):
                hub = psutil.Process(self.process.pid)
                for proc in [hub, *hub.children(recursive=True)]:
                    self.tree.setdefault(proc.pid, proc)
            return [p for p in self.tree.values() if p.is_running()]

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no hub log)"


def _hub_config(base: Path, port: int, hub_port: int, proxy_api_port: int, service_token: str) -> str:
    """jupyterhub_config.py: loopback only, dummy authenticator, local processes, all state under ``base``."""
    bin_dir = Path(sys.executable).parent
    # No update check and no extension manager (it would query PyPI): nothing leaves 127.0.0.1.
    args = ["--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly"]
    # Kernels on Unix sockets: a TCP port picked for a kernel can be taken by another server's kernel before it
    # binds (measured: 1 of 10 notebook starts failed with "Address already in use" when all students start at once).
    # Their socket files go to one short runtime folder: a path inside a home passes the 107-byte limit of AF_UNIX.
    args.append("--KernelManager.transport=ipc")
    if os.geteuid() == 0:
        args.append("--allow-root")
    settings = {
        "JupyterHub.ip": HOST,
        "JupyterHub.port": port,
        "JupyterHub.hub_ip": HOST,
        "JupyterHub.hub_port": hub_port,
        "JupyterHub.db_url": f"sqlite:///{base / 'jupyterhub.sqlite'}",
        "JupyterHub.cookie_secret_file": str(base / "cookie_secret"),
        "JupyterHub.pid_file": str(base / "jupyterhub.pid"),
        "JupyterHub.authenticator_class": "dummy",
        "Authenticator.allow_all": True,
        "JupyterHub.spawner_class": "simple",
        "JupyterHub.cleanup_servers": True,
        "JupyterHub.cleanup_proxy": True,
        "JupyterHub.services": [{"name": "classroom", "api_token": service_token}],
        "JupyterHub.load_roles": [
            {
                "name": "classroom",
                "scopes": ["admin:users", "admin:servers", "access:servers", "tokens"],
                "services": ["classroom"],
            }
        ],
        "ConfigurableHTTPProxy.command": [str(PROXY)],
        "ConfigurableHTTPProxy.api_url": f"http://{HOST}:{proxy_api_port}",
        "ConfigurableHTTPProxy.auth_token": secrets.token_hex(32),
        "ConfigurableHTTPProxy.pid_file": str(base / "proxy.pid"),
        "Spawner.cmd": [str(bin_dir / "jupyterhub-singleuser")],
        "Spawner.args": args,
        "Spawner.ip": HOST,
        "Spawner.start_timeout": SPAWN_S,
        "Spawner.http_timeout": SPAWN_S,
        "Spawner.environment": {
            "HF_HUB_OFFLINE": "1",
            "JUPYTER_PLATFORM_DIRS": "1",
            "JUPYTER_RUNTIME_DIR": str(base / "rt"),
        },
        "SimpleLocalProcessSpawner.home_dir_template": str(base / "homes" / "{username}"),
    }
    lines = ["# Written by benchmarks/classroom.py for one run; removed with its folder."]
    lines += [f"c.{key} = {value!r}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def _wait_for_hub(hub: Hub, deadline: Deadline) -> None:
    """Until ``/hub/api/`` answers through the proxy (both are up), or the hub exits, or HUB_START_S passes."""
    end = time.monotonic() + deadline.left(HUB_START_S)
    while time.monotonic() < end:
        if hub.process.poll() is not None:
            raise RuntimeError(f"jupyterhub exited with {hub.process.returncode}:\n{hub.log_tail()}")
        with contextlib.suppress(OSError, ValueError):
            hub.api("GET", "/")
            return
        time.sleep(POLL_S)
    raise TimeoutError(f"jupyterhub did not answer within {HUB_START_S} s:\n{hub.log_tail()}")


def _stop_hub(hub: Hub) -> None:
    """SIGTERM the hub (it stops the proxy and the servers), then SIGKILL whatever of its tree is left.

    The proxy, each server and each kernel run in process groups of their own, so every group seen is killed,
    then every remaining process.
    """
    hub.processes()
    if hub.process.poll() is None:
        hub.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            hub.process.wait(timeout=STOP_S)
    for proc in hub.tree.values():
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
            if proc.is_running():
                os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
        with contextlib.suppress(psutil.Error):
            if proc.is_running():
                proc.kill()
    if hub.process.poll() is None:
        hub.process.kill()
    hub.process.wait(timeout=STOP_S)
    psutil.wait_procs(list(hub.tree.values()), timeout=STOP_S)


@contextlib.contextmanager
def running_hub(base: Path, deadline: Deadline) -> Iterator[Hub]:
    """A JupyterHub on 127.0.0.1 with its state in ``base``; stopped with all it started when the block ends."""
    if not PROXY.exists():
        raise FileNotFoundError(
            f"configurable-http-proxy is not installed at {PROXY}; install it with: {PROXY_INSTALL}"
        )
    port, hub_port, proxy_api_port = _free_port(), _free_port(), _free_port()
    service_token = secrets.token_hex(32)
    config = base / "jupyterhub_config.py"
    config.write_text(_hub_config(base, port, hub_port, proxy_api_port, service_token))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "CONFIGPROXY"))}
    env |= {f"JUPYTER_{d.upper()}_DIR": str(base / "jupyter" / d) for d in ("config", "data", "runtime")}
    log = base / "hub.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(config)],
            cwd=base,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    hub = Hub(url=f"http://{HOST}:{port}", token=service_token, process=process, base=base, log=log)
    try:
        _wait_for_hub(hub, deadline)
        yield hub
    finally:
        _stop_hub(hub)


# ---------------------------------------------------------------------------------------------------------------
# Students


class Failure(Exception):
    """A student's step that did not work: the stage and what happened."""


def _stream_events(stream: Iterator[bytes], end: float, late: str) -> Iterator[dict]:
    """The JSON ``data:`` events of a server-sent event stream (the hub's spawn progress, nbgitpuller's pull);
    ``Failure(late)`` once ``time.monotonic()`` passes ``end``."""
    for line in stream:
        if time.monotonic() > end:
            raise Failure(late)
        if line.startswith(b"data:"):
            yield json.loads(line.removeprefix(b"data:"))


@dataclass
class Student:
    name: str
    hub: Hub
    token: str = ""
    spawn_s: float | None = None
    pull_s: float | None = None
    notebook: str = ""  # its path in the student's home, from the link's urlpath
    prepare_s: float | None = None
    cells: int = 0
    kernel_id: str = ""
    ws: websocket.WebSocket | None = None
    session: Session | None = None
    control_id: str = ""
    image_id: str = ""
    image_hash: str = ""
    value: int = 0
    failures: list[dict] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"{self.hub.url}/user/{self.name}"

    def fail(self, stage: str, error: BaseException | str) -> None:
        self.failures.append({"student": self.name, "stage": stage, "error": str(error)[-500:]})

    # --- through the proxy to the student's own server, as the student

    def server_api(self, method: str, path: str, body: dict | None = None) -> dict:
        return _json_request(f"{self.base_url}/api{path}", self.token, method, body)

    def send(self, msg_type: str, content: dict, channel: str = "shell") -> str:
        """One Jupyter message over the websocket (JSON text frame, as JupyterLab sends it); returns its id."""
        msg = self.session.msg(msg_type, content)
        msg["channel"] = channel
        self.ws.send(json.dumps(msg, default=json_default))
        return msg["header"]["msg_id"]

    def until_idle(self, msg_id: str, handle: Callable[[dict], bool], timeout: float, deadline: Deadline) -> None:
        """Feed the kernel's answers to request ``msg_id`` to ``handle`` until it returned true and the kernel,
        busy with that request, is idle again (the two come on different channels, in either order)."""
        end = time.monotonic() + deadline.left(timeout)
        handled = idle = False
        seen: list[str] = []
        while not (handled and idle):
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer within {timeout} s (last messages: {seen[-5:]})")
            self.ws.settimeout(left)
            frame = self.ws.recv()  # text, or binary when the message carries buffers (an image)
            msg = deserialize_binary_message(frame) if isinstance(frame, bytes) else json.loads(frame)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            seen.append(msg["msg_type"])
            idle = idle or (msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle")
            handled = handle(msg) or handled

    def execute(self, code: str, deadline: Deadline, user_expressions: dict | None = None) -> dict:
        """Run ``code``; returns the execute_reply content once the kernel is idle again. Errors raise Failure."""
        silent = user_expressions is not None
        msg_id = self.send(
            "execute_request",
            {
                "code": code,
                "silent": silent,
                "store_history": not silent,
                "user_expressions": user_expressions or {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
        )
        reply: dict = {}

        def handle(msg: dict) -> bool:
            if msg["msg_type"] == "execute_reply":
                reply.update(msg["content"])
            if msg["msg_type"] == "error":
                raise Failure(f"{msg['content']['ename']}: {msg['content']['evalue']}")
            return bool(reply)

        self.until_idle(msg_id, handle, CELL_S, deadline)
        if reply["status"] != "ok":
            raise Failure(f"execute_reply {reply['status']}: {reply.get('ename')} {reply.get('evalue')}")
        return reply

    # --- the steps

    def spawn(self, deadline: Deadline) -> None:
        """Start this student's server through the REST API; wait on the hub's progress stream (as its spawn page
        does, so no polling load) until the server is ready."""
        start = time.perf_counter()
        self.hub.api("POST", f"/users/{self.name}/server")
        end = time.monotonic() + deadline.left(SPAWN_S)
        request = urllib.request.Request(f"{self.hub.url}/hub/api/users/{self.name}/server/progress")
        request.add_header("Authorization", f"token {self.hub.token}")
        with urllib.request.urlopen(request, timeout=REQUEST_S) as stream:  # the hub sends a keepalive every 8 s
            for event in _stream_events(stream, end, f"not ready after {SPAWN_S} s"):
                if event.get("ready"):
                    self.spawn_s = time.perf_counter() - start
                    return
                if event.get("failed"):
                    raise Failure(f"spawn failed: {event.get('message')}")
        raise Failure("the hub's progress stream ended before the server was ready")

    def pull(self, link: str, deadline: Deadline) -> None:
        """Log in and follow the course link as a browser would (cookies, redirects): the hub sends the student to
        their server, whose nbgitpuller page clones the course (its event stream, read here) before ``urlpath``."""
        start = time.perf_counter()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies := CookieJar()))
        with browser.open(f"{self.hub.url}/hub/login", timeout=REQUEST_S) as page:
            page.read()  # sets the _xsrf cookie the login form needs
        xsrf = next((c.value for c in cookies if c.name == "_xsrf"), "")
        form = urllib.parse.urlencode({"username": self.name, "password": "any (dummy)", "_xsrf": xsrf}).encode()
        after_login = f"{self.hub.url}/hub/login?" + urllib.parse.urlencode({"next": link.removeprefix(self.hub.url)})
        with browser.open(urllib.request.Request(after_login, data=form), timeout=REQUEST_S) as page:
            page.read()  # login → the link → the student's server (OAuth) → nbgitpuller's page
            location = page.geturl().removeprefix(self.hub.url)
        if not location.startswith(f"/user/{self.name}/git-pull?"):
            raise Failure(f"the link ended at {location!r}, not at the student's git-pull page")
        auth = {"Authorization": f"token {self.token}"}
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
        self.notebook = query["urlpath"][0].removeprefix("lab/tree/")
        api = f"{self.base_url}/git-pull/api?" + urllib.parse.urlencode({k: query[k][0] for k in ("repo", "branch")})
        end = time.monotonic() + deadline.left(PULL_S)
        with urllib.request.urlopen(urllib.request.Request(api, headers=auth), timeout=REQUEST_S) as stream:
            for event in _stream_events(stream, end, f"nbgitpuller did not finish within {PULL_S} s"):
                if event.get("phase") == "error":
                    raise Failure(f"nbgitpuller: {event.get('message')}")
                if event.get("phase") == "finished":
                    self.pull_s = time.perf_counter() - start
                    return
        raise Failure("nbgitpuller's stream ended before it finished")

    def prepare(self, deadline: Deadline) -> None:
        """Open notebook 01, start its kernel, run every code cell up to the explorer's, find the widget ids."""
        start = time.perf_counter()
        path = urllib.parse.quote(self.notebook)
        notebook = self.server_api("GET", f"/contents/{path}?content=1&type=notebook")
        cells, explorer = explorer_cells(notebook["content"])
        session = self.server_api(
            "POST",
            "/sessions",
            {"path": self.notebook, "name": NOTEBOOK, "type": "notebook", "kernel": {"name": "python3"}},
        )
        self.kernel_id = session["kernel"]["id"]
        ws_url = self.base_url.replace("http://", "ws://") + f"/api/kernels/{self.kernel_id}/channels"
        self.session = Session(username=self.name, session=uuid.uuid4().hex)
        self.ws = websocket.create_connection(
            f"{ws_url}?session_id={self.session.session}",
            header=[f"Authorization: token {self.token}"],
            timeout=deadline.left(REQUEST_S),
        )
        info_id = self.send("kernel_info_request", {})
        self.until_idle(info_id, lambda msg: msg["msg_type"] == "kernel_info_reply", CELL_S, deadline)
        for source in cells:
            self.execute(source, deadline)
            self.cells += 1
        ids = self.execute(
            "",
            deadline,
            user_expressions={
                "control": f"{explorer}.controls[{CONTROL!r}].model_id",
                "image": f"{explorer}.image.model_id",
                "value": f"{explorer}.controls[{CONTROL!r}].value",
                "hash": f"__import__('hashlib').sha256(bytes({explorer}.image.value)).hexdigest()",
            },
        )["user_expressions"]
        for name in ("control", "image", "value", "hash"):
            if ids[name].get("status") != "ok":
                raise Failure(f"{name}: {ids[name].get('ename')} {ids[name].get('evalue')}")
        found = {name: ast.literal_eval(expression["data"]["text/plain"]) for name, expression in ids.items()}
        self.control_id, self.image_id = found["control"], found["image"]
        self.value, self.image_hash = found["value"], found["hash"]
        self.prepare_s = time.perf_counter() - start

    def move(self, value: int, deadline: Deadline) -> float:
        """Set the control to ``value`` as a dragged slider does; seconds until a new PNG arrived (kernel idle after)."""
        start = time.perf_counter()
        msg_id = self.send(
            "comm_msg",
            {"comm_id": self.control_id, "data": {"method": "update", "state": {"value": value}, "buffer_paths": []}},
        )
        arrived: list[float] = []
        new_hash = ""

        def handle(msg: dict) -> bool:
            nonlocal new_hash
            content = msg["content"]
            if msg["msg_type"] == "error":
                raise Failure(f"{content['ename']}: {content['evalue']}")
            if msg["msg_type"] == "stream" and content["name"] == "stderr":
                raise Failure(f"stderr: {content['text']}")
            if msg["msg_type"] == "comm_msg" and content["comm_id"] == self.image_id and msg.get("buffers"):
                arrived.append(time.perf_counter())
                new_hash = hashlib.sha256(bytes(msg["buffers"][0])).hexdigest()
            return bool(arrived)

        self.until_idle(msg_id, handle, MOVE_S, deadline)
        if new_hash == self.image_hash:
            raise Failure(f"{CONTROL}={value}: the image bytes did not change")
        self.image_hash, self.value = new_hash, value
        return arrived[0] - start

    def moves(self, count: int, phase: str, deadline: Deadline, start: threading.Barrier | None = None) -> None:
        """``count`` moves one after the other, each to a value the control did not have; latencies by phase."""
        samples = self.latencies.setdefault(phase, [])
        if start is not None:
            start.wait(timeout=deadline.left(SPAWN_S))
        for _ in range(count):
            value = (self.value + 1) % SEED_VALUES
            try:
                samples.append(self.move(value, deadline))
            except (Failure, OSError, TimeoutError, websocket.WebSocketException) as exc:
                self.fail(f"update ({phase})", exc)


def explorer_cells(notebook: dict) -> tuple[list[str], str]:
    """Every non-empty code cell up to the one that shows the explorer, and the explorer's variable name.

    >>> cells = [{"cell_type": "code", "source": s} for s in ("import x", "e = explore_qkv()", "e", "more")]
    >>> explorer_cells({"cells": cells})
    (['import x', 'e = explore_qkv()', 'e'], 'e')
    """
    sources = [
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in notebook["cells"]
        if c["cell_type"] == "code"
    ]
    sources = [s for s in sources if s.strip()]
    built = [(i, m.group(1)) for i, s in enumerate(sources) if (m := re.search(r"^(\w+) = explore_\w+\(", s, re.M))]
    if not built:
        raise ValueError(f"{NOTEBOOK} has no cell of the form `name = explore_…(…)`")
    first, name = built[0]
    shown = next((i for i in range(first, len(sources)) if sources[i].strip() == name), first)
    return sources[: shown + 1], name


# ---------------------------------------------------------------------------------------------------------------
# Measuring the tree


def _memory_mb(proc: psutil.Process) -> dict:
    """Resident (RSS), proportional (PSS: shared pages split between their users) and unique (USS) memory, MB."""
    info = proc.memory_full_info()
    return {"rss": info.rss / 2**20, "pss": info.pss / 2**20, "uss": info.uss / 2**20}


def measure_tree(hub: Hub, students: list[Student]) -> dict:
    """Memory of every student's server and kernel (by the tree's PIDs), the hub's and proxy's; every socket."""
    by_user: dict[str, dict] = {}
    hub_proc, proxy, sockets = None, None, []
    for proc in hub.processes():
        with contextlib.suppress(psutil.Error):
            cmdline = " ".join(proc.cmdline())
            for conn in proc.net_connections(kind="inet"):
                remote = conn.raddr.ip if conn.raddr else None
                sockets.append({"pid": proc.pid, "status": conn.status, "local": conn.laddr.ip, "remote": remote})
            if proc.pid == hub.process.pid:
                hub_proc = _memory_mb(proc)
            elif "configurable-http-proxy" in cmdline:
                proxy = _memory_mb(proc)
            elif "jupyterhub-singleuser" in cmdline:
                user = proc.environ().get("JUPYTERHUB_USER", "?")
                kernels = [c for c in proc.children(recursive=True) if "ipykernel" in " ".join(c.cmdline())]
                by_user[user] = {"server": _memory_mb(proc), "kernels": [_memory_mb(k) for k in kernels]}
    rows = [by_user.get(s.name) for s in students if s.prepare_s is not None]
    rows = [r for r in rows if r and len(r["kernels"]) == 1]

    def summary(kind: str, key: str) -> dict:
        values = [r["server"][key] if kind == "server" else r["kernels"][0][key] for r in rows]
        return _percentiles(values)

    per_student = {k: _percentiles([r["server"][k] + r["kernels"][0][k] for r in rows]) for k in ("rss", "pss", "uss")}
    return {
        "memory_mb": {
            "kernel": {k: summary("kernel", k) for k in ("rss", "pss", "uss")},
            "server": {k: summary("server", k) for k in ("rss", "pss", "uss")},
            "student": per_student,
            "hub": hub_proc,
            "proxy": proxy,
            "students_measured": len(rows),
            "kernels_per_server": {user: len(r["kernels"]) for user, r in by_user.items()},
        },
        "sockets": sockets,
    }


def watch_sockets(hub: Hub, stop: threading.Event, seen: dict[tuple, int]) -> None:
    """Until ``stop``: every SOCKET_WATCH_S, each TCP/UDP socket of every process in the hub's tree, counted by
    (status, local address, remote address) into ``seen``."""
    while not stop.wait(SOCKET_WATCH_S):
        for proc in hub.processes():
            with contextlib.suppress(psutil.Error):
                for conn in proc.net_connections(kind="inet"):
                    key = (conn.status, conn.laddr.ip, conn.raddr.ip if conn.raddr else None)
                    seen[key] = seen.get(key, 0) + 1


def _is_loopback(ip: str | None) -> bool:
    return ip is None or ipaddress.ip_address(ip.removeprefix("::ffff:")).is_loopback


# ---------------------------------------------------------------------------------------------------------------
# The run


def run_class(students: int = STUDENTS, moves: int = MOVES, budget_s: float | None = None) -> dict:
    """Start a hub, spawn ``students`` servers, prepare each student, move the control; the measurements as a dict.

    The whole run ends by ``budget_s`` (default 240 s + 30 s per student).
    """
    if not 1 <= students <= MAX_STUDENTS:
        raise ValueError(f"students={students}: choose 1 to {MAX_STUDENTS} (what 2 cores and 24 GB start in time)")
    if not 1 <= moves < SEED_VALUES:
        raise ValueError(f"moves={moves}: choose 1 to {SEED_VALUES - 1} (the seed slider has {SEED_VALUES} values)")
    deadline = Deadline(budget_s or 240 + 30 * students)
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    result: dict = {
        "date_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "code_hash": code_hash(),
        "students": students,
        "moves": moves,
        "notebook": NOTEBOOK,
        "control": CONTROL,
        "cores": os.cpu_count(),
        "load_average_at_start": load_start,
    }
    base = Path(tempfile.mkdtemp(prefix="mha-classroom-"))
    class_: list[Student] = []
    seen: dict[tuple, int] = {}
    stop = threading.Event()
    try:
        with running_hub(base, deadline) as hub:
            result["hub_start_s"] = time.perf_counter() - started
            watch = threading.Thread(target=watch_sockets, args=(hub, stop, seen), daemon=True)
            watch.start()
            link = gitpuller_link(hub.url, course_repository(base), NOTEBOOK)
            result["link"] = link
            names = [f"student{i:02d}" for i in range(students)]
            hub.api("POST", "/users", {"usernames": names})
            class_ = [Student(name=name, hub=hub) for name in names]
            for s in class_:
                s.token = hub.api("POST", f"/users/{s.name}/tokens", {"note": "classroom", "expires_in": 3600})["token"]
            with ThreadPoolExecutor(max_workers=students) as pool:
                list(pool.map(lambda s: _step(s, "spawn", s.spawn, deadline), class_))
                ready = [s for s in class_ if s.spawn_s is not None]
                list(pool.map(lambda s: _step(s, "pull", lambda d: s.pull(link, d), deadline), ready))
                ready = [s for s in ready if s.pull_s is not None]
                list(pool.map(lambda s: _step(s, "prepare", s.prepare, deadline), ready))
                ready = [s for s in ready if s.prepare_s is not None]
                if ready:
                    ready[0].moves(moves, "alone", deadline)
                    barrier = threading.Barrier(len(ready))
                    list(pool.map(lambda s: s.moves(moves, "class", deadline, barrier), ready))
            stop.set()
            watch.join(timeout=STOP_S)
            result |= measure_tree(hub, class_)
            result["tree_pids"] = sorted(hub.tree)
            for s in class_:
                if s.ws is not None:
                    with contextlib.suppress(Exception):
                        s.ws.close()
            failures = [f for s in class_ for f in s.failures]
            if failures:
                result["hub_log_tail"] = hub.log_tail()
    finally:
        stop.set()
        shutil.rmtree(base, ignore_errors=True)
    result["sockets_watched"] = [
        {"status": status, "local": local, "remote": remote, "samples": n}
        for (status, local, remote), n in sorted(seen.items(), key=str)
    ]
    failures = [f for s in class_ for f in s.failures]
    result["spawn_s"] = _percentiles([s.spawn_s for s in class_ if s.spawn_s is not None])
    result["pull_s"] = _percentiles([s.pull_s for s in class_ if s.pull_s is not None])
    result["prepare_s"] = _percentiles([s.prepare_s for s in class_ if s.prepare_s is not None])
    result["cells_run"] = sorted({s.cells for s in class_})
    for phase in ("alone", "class"):
        samples = [1000 * x for s in class_ for x in s.latencies.get(phase, [])]
        result[f"latency_{phase}_ms"] = {**_percentiles(samples), "samples_ms": samples}
    result["failed_spawns"] = [f for f in failures if f["stage"] == "spawn"]
    result["failed_pulls"] = [f for f in failures if f["stage"] == "pull"]
    result["failed_prepares"] = [f for f in failures if f["stage"] == "prepare"]
    result["failed_updates"] = [f for f in failures if f["stage"].startswith("update")]
    result["non_loopback_sockets"] = [
        s
        for s in result.get("sockets", []) + result["sockets_watched"]
        if not (_is_loopback(s["local"]) and _is_loopback(s["remote"]))
    ]
    result["left_running"] = [pid for pid in result.get("tree_pids", []) if _alive(pid)]
    result["sizing"] = sizing(result.get("memory_mb", {}))
    result["load_average_at_end"] = os.getloadavg()[0]
    result["seconds"] = time.perf_counter() - started
    return result


def sizing(memory: dict) -> dict:
    """Students per SERVER_GB server: what is left after the reserve, hub and proxy, over one student's PSS
    (server + one notebook's kernel; shared library pages split between their users).

    >>> sizing({"student": {"pss": {"p50": 350.0}}, "kernel": {"pss": {"p50": 230.0}}, "hub": {"pss": 100.0},
    ...         "proxy": {"pss": 50.0}})["students_per_server"]
    40
    """
    if not memory.get("student", {}).get("pss", {}).get("p50"):
        return {}
    student, kernel = memory["student"]["pss"]["p50"], memory["kernel"]["pss"]["p50"]
    left = SERVER_GB * 1024 - SYSTEM_RESERVE_MB - memory["hub"]["pss"] - memory["proxy"]["pss"]
    return {
        "server_gb": SERVER_GB,
        "reserve_mb": SYSTEM_RESERVE_MB,
        "student_mb": student,
        "extra_notebook_mb": kernel,
        "students_per_server": int(left // student),
        "students_per_server_two_notebooks_open": int(left // (student + kernel)),
    }


def _alive(pid: int) -> bool:
    with contextlib.suppress(psutil.NoSuchProcess):
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    return False


def _step(student: Student, stage: str, step: Callable[[Deadline], None], deadline: Deadline) -> None:
    """Run one student's step; a failure is recorded for that student and the others go on."""
    try:
        step(deadline)
    except (Failure, OSError, TimeoutError, ValueError, KeyError, websocket.WebSocketException) as exc:
        student.fail(stage, exc)


def summary(result: dict) -> str:
    """A few lines for a person: spawn, memory, latency alone and in class, failures."""
    mem, alone, together = result["memory_mb"], result["latency_alone_ms"], result["latency_class_ms"]

    def ms(p: dict) -> str:
        return f"p50 {p['p50']:.0f} ms, p90 {p['p90']:.0f} ms (n={p['n']})" if p["n"] else "none"

    return "\n".join(
        [
            f"{result['students']} students, {result['moves']} moves of {result['control']!r} each, "
            f"{result['seconds']:.0f} s (load average {result['load_average_at_start']:.1f} → "
            f"{result['load_average_at_end']:.1f} on {result['cores']} cores)",
            f"spawn: p50 {result['spawn_s'].get('p50', 0):.1f} s, max {result['spawn_s'].get('max', 0):.1f} s",
            f"kernel: RSS p50 {mem['kernel']['rss'].get('p50', 0):.0f} MB, "
            f"PSS {mem['kernel']['pss'].get('p50', 0):.0f} MB; server: RSS p50 {mem['server']['rss'].get('p50', 0):.0f} MB, PSS {mem['server']['pss'].get('p50', 0):.0f} MB",
            f"sizing: ≈ {result['sizing'].get('student_mb', 0):.0f} MB per student: a {SERVER_GB} GB server holds "
            f"~{result['sizing'].get('students_per_server', 0)}",
            f"control → new image, one student alone: {ms(alone)}; all at once: {ms(together)}",
            f"failed spawns {len(result['failed_spawns'])}, failed pulls {len(result['failed_pulls'])}, "
            f"failed notebook starts {len(result['failed_prepares'])}, failed updates {len(result['failed_updates'])}, non-loopback sockets {len(result['non_loopback_sockets'])}, "
            f"processes left running {len(result['left_running'])}",
        ]
    )


def write(result: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


def bench_record(students: int = STUDENTS, moves: int = MOVES) -> dict:
    """For ``make bench``: ``benchmarks/classroom.json`` if measured on the current code at this size, else a new
    run written there; without the latency samples. ``{"status": "not measured", "why": …}`` if the run failed."""
    record = json.loads(OUTPUT.read_text()) if OUTPUT.exists() else {}
    if (record.get("code_hash"), record.get("students"), record.get("moves")) != (code_hash(), students, moves):
        print(f"classroom: no measurement for the current code; running {students} students", flush=True)
        try:
            record = run_class(students, moves)
        except (OSError, RuntimeError, TimeoutError, subprocess.SubprocessError) as exc:
            return {"status": "not measured", "why": f"{type(exc).__name__}: {str(exc)[:300]}"}
        write(record, OUTPUT)
    drop = ("samples_ms", "sockets", "sockets_watched", "tree_pids", "hub_log_tail")
    trimmed = {
        k: ({i: v for i, v in x.items() if i not in drop} if isinstance(x, dict) else x) for k, x in record.items()
    }
    return {"status": "measured", **{k: v for k, v in trimmed.items() if k not in drop}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=STUDENTS, help="simulated students (default %(default)s)")
    parser.add_argument("--moves", type=int, default=MOVES, help="control moves per student and phase")
    parser.add_argument("--out", type=Path, default=OUTPUT, help="JSON file (default benchmarks/classroom.json)")
    args = parser.parse_args()
    result = run_class(args.students, args.moves)
    write(result, args.out)
    print(summary(result))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
