"""A class on one JupyterHub (benchmarks/classroom.py): every student's server starts, notebook 01 runs, every
slider move brings a new image, nothing listens or connects beyond 127.0.0.1, and nothing is left running.

``make test`` runs it with CLASSROOM_STUDENTS=4 students (the module's default is 10, which ``make classroom-test``
uses); the measurements go to ``tests/artifacts/classroom.json`` (or to CLASSROOM_JSON). No timing targets here:
those belong to ``make bench``.
"""

import doctest
import os
from pathlib import Path

import nbformat
import pytest

from benchmarks import classroom

pytestmark = pytest.mark.classroom

STUDENTS = int(os.environ.get("CLASSROOM_STUDENTS", "4"))
MOVES = int(os.environ.get("CLASSROOM_MOVES", "10"))
OUTPUT = Path(os.environ.get("CLASSROOM_JSON", classroom.ROOT / "tests" / "artifacts" / "classroom.json"))
KERNEL_MB = (100, 4000)  # a kernel that imported torch and drew the explorer; a server that did not
SERVER_MB = (30, 1500)


def test_module_examples() -> None:
    outcome = doctest.testmod(classroom)
    assert outcome.attempted > 0 and outcome.failed == 0


def test_students_run_notebook_01_up_to_its_explorer() -> None:
    notebook = nbformat.read(classroom.NOTEBOOKS / classroom.NOTEBOOK, as_version=4)
    cells, name = classroom.explorer_cells(notebook)
    assert cells[-1].strip() == name  # the cell that shows it
    assert any(f"{name} = explore_" in c for c in cells) and any("import" in c for c in cells)
    with pytest.raises(ValueError, match="explore_"):
        classroom.explorer_cells({"cells": [{"cell_type": "code", "source": "x = 1"}]})


@pytest.fixture(scope="module")
def result() -> dict:
    if not classroom.PROXY.exists():
        pytest.fail(f"configurable-http-proxy is missing; install it with: {classroom.PROXY_INSTALL}")
    measured = classroom.run_class(STUDENTS, MOVES)
    classroom.write(measured, OUTPUT)
    print(classroom.summary(measured))
    return measured


def test_every_student_gets_a_server(result: dict) -> None:
    assert result["failed_spawns"] == [], result.get("hub_log_tail")
    assert result["spawn_s"]["n"] == STUDENTS
    assert 0 < result["spawn_s"]["p50"] <= result["spawn_s"]["max"]


def test_every_student_pulls_the_course_through_its_link(result: dict) -> None:
    assert result["failed_pulls"] == [], result.get("hub_log_tail")
    assert result["pull_s"]["n"] == STUDENTS
    assert (
        "/hub/user-redirect/git-pull?repo=" in result["link"] and "&branch=main&urlpath=lab%2Ftree%2F" in result["link"]
    )


def test_every_student_runs_notebook_01_to_its_explorer(result: dict) -> None:
    assert result["failed_prepares"] == [], result.get("hub_log_tail")
    assert result["prepare_s"]["n"] == STUDENTS
    assert len(result["cells_run"]) == 1 and result["cells_run"][0] >= 2  # the same cells for all, import and explorer


def test_every_move_brings_a_new_image(result: dict) -> None:
    assert result["failed_updates"] == []
    assert result["latency_alone_ms"]["n"] == MOVES
    assert result["latency_class_ms"]["n"] == MOVES * STUDENTS
    for phase in ("alone", "class"):
        assert all(0 < ms < 1000 * classroom.MOVE_S for ms in result[f"latency_{phase}_ms"]["samples_ms"])


def test_memory_is_read_from_each_students_own_processes(result: dict) -> None:
    memory = result["memory_mb"]
    assert memory["students_measured"] == STUDENTS
    assert set(memory["kernels_per_server"].values()) == {1}  # one kernel per student, found under its server
    low, high = KERNEL_MB
    assert low < memory["kernel"]["rss"]["p50"] <= memory["kernel"]["rss"]["max"] < high
    low, high = SERVER_MB
    assert low < memory["server"]["rss"]["p50"] <= memory["server"]["rss"]["max"] < high
    for kind in ("kernel", "server"):
        assert 0 < memory[kind]["uss"]["p50"] <= memory[kind]["pss"]["p50"] <= memory[kind]["rss"]["p50"]
    assert memory["hub"]["rss"] > 0 and memory["proxy"]["rss"] > 0
    sizing = result["sizing"]
    assert sizing["student_mb"] == pytest.approx(memory["student"]["pss"]["p50"])
    assert sizing["students_per_server"] > sizing["students_per_server_two_notebooks_open"] > 0


def test_only_loopback_and_nothing_left_running(result: dict) -> None:
    listening = [s for s in result["sockets"] if s["status"] == "LISTEN"]
    assert len(listening) >= 3 + STUDENTS  # proxy (public and API), hub, one server per student, kernels
    assert sum(s["samples"] for s in result["sockets_watched"] if s["status"] == "ESTABLISHED") > STUDENTS
    assert result["non_loopback_sockets"] == []  # the last snapshot and every second of the run
    assert result["left_running"] == []
