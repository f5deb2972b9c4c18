"""``pmc export`` and ``pmc replay`` as a CI job runs them: exit codes, stdout and stderr.

A module-wide project directory holds the generated module of BASE
(``rp_cleanup.py``), a changed version that dropped the state ``Failed``
(``rp_cleanup_next.py``), an SQLite store with the streams BASE recorded and
their export. The main paths run the real ``pmc`` in a subprocess; the error
cases call the same typer app in this process, which saves a Python start each.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pmc.runtime.stores import NewEvent, open_store
from pmc.streams.export import read_json_lines
from tests.cli_run import Run, pmc_here, pmc_process
from tests.codegen.support import compile_text
from tests.replay.support import BASE, FixedClock, compiled, edit, record_streams

WITHOUT_FAILED = edit(
    ("states Working, Closing, Closed, Failed", "states Working, Closing, Closed"),
    ("final Closed, Failed", "final Closed"),
    ("give_up: Closing -> Failed", "give_up: Closing -> Closed"),
    ("    fail when any Instance in Failed\n", ""),
)
SUMMARY = "replayed 2 streams, 19 events, 0 failures\n"


@dataclass(frozen=True)
class Project:
    directory: Path
    store: str
    exported: str = "streams.jsonl"

    def pmc(self, *args: str) -> Run:
        """The real command, in a subprocess started in the project directory."""
        return pmc_process(*args, cwd=self.directory)

    def cli(self, *args: str, stdin: str | None = None) -> Run:
        """The same app in this process, with the project directory as the current one."""
        return pmc_here(*args, cwd=self.directory, stdin=stdin)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    directory = tmp_path_factory.mktemp("project")
    (directory / "rp_cleanup.py").write_text(compile_text(BASE, "rp_cleanup.pm"), "utf-8")
    (directory / "rp_cleanup_next.py").write_text(
        compile_text(WITHOUT_FAILED, "rp_cleanup.pm"), "utf-8"
    )
    url = f"sqlite:///{directory / 'store.db'}"
    store = open_store(url, clock=FixedClock())
    try:
        record_streams(store)
    finally:
        store.close()
    saved_path = list(sys.path)
    project = Project(directory, url)
    exported = project.cli("export", "rp_cleanup:RpCleanup", "--store", url, "-o", "streams.jsonl")
    assert exported.exit_code == 0, exported.stderr
    yield project
    # The in-process runs imported the project's modules from its directory.
    sys.path[:] = saved_path
    for name in ("rp_cleanup", "rp_cleanup_next"):
        sys.modules.pop(name, None)


# ---- through the real command -----------------------------------------------------------


def test_export_writes_json_lines_by_key_then_version(project: Project) -> None:
    run = project.pmc("export", "rp_cleanup:RpCleanup", "--store", project.store)

    assert run.exit_code == 0
    assert run.stderr == "exported 2 streams, 19 events of RpCleanup\n"
    events = list(read_json_lines(run.stdout.splitlines()))
    assert [(e.key, e.version) for e in events] == [
        *[("r1", v) for v in range(1, 11)],
        *[("r2", v) for v in range(1, 10)],
    ]
    assert run.stdout == (project.directory / project.exported).read_text("utf-8")


def test_replay_from_the_store_succeeds_with_a_summary(project: Project) -> None:
    run = project.pmc("replay", "rp_cleanup:RpCleanup", "--store", project.store)

    assert (run.exit_code, run.stdout, run.stderr) == (0, "", SUMMARY)


def test_a_changed_process_that_cannot_replay_a_stream_fails_with_its_key_and_version(
    project: Project,
) -> None:
    run = project.pmc("replay", "rp_cleanup_next:RpCleanup", "--from-jsonl", project.exported)

    assert (run.exit_code, run.stdout) == (1, "")
    assert run.stderr == (
        "r2@8: error[REPLAY_UNKNOWN_STATE]: machine `Instance` has no state `Failed`\n"
        "replayed 2 streams, 19 events, 1 failure\n"
    )


def test_a_process_that_cannot_be_imported_exits_two(project: Project) -> None:
    run = project.pmc("replay", "nosuch:Process", "--store", project.store)

    assert (run.exit_code, run.stdout) == (2, "")
    assert run.stderr == "error: cannot import `nosuch`: No module named 'nosuch'\n"


# ---- in process -------------------------------------------------------------------------


def test_export_to_a_file_of_chosen_keys(project: Project) -> None:
    run = project.cli(
        "export", "rp_cleanup:RpCleanup", "--store", project.store, "--key", "r2", "-o", "r2.jsonl"
    )

    assert (run.exit_code, run.stdout) == (0, "")
    assert run.stderr == "exported 1 stream, 9 events of RpCleanup\n"
    lines = (project.directory / "r2.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["r2"] * 9


def test_export_writes_its_file_as_every_command_writes_one(project: Project) -> None:
    # pmc.files.replacing, as `graph -o` and `compile`: the umask's mode for
    # a new file, an existing file's own mode kept, a symbolic link followed.
    previous = os.umask(0o027)
    try:
        new = project.cli(
            "export", "rp_cleanup:RpCleanup", "--store", project.store, "-o", "n.jsonl"
        )
    finally:
        os.umask(previous)
    kept = project.directory / "kept.jsonl"
    kept.write_text("", "utf-8")
    kept.chmod(0o604)
    (project.directory / "link.jsonl").symlink_to(kept)
    linked = project.cli(
        "export", "rp_cleanup:RpCleanup", "--store", project.store, "-o", "link.jsonl"
    )

    assert (new.exit_code, linked.exit_code) == (0, 0)
    assert stat.S_IMODE((project.directory / "n.jsonl").stat().st_mode) == 0o640
    assert (project.directory / "link.jsonl").is_symlink()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o604
    assert kept.read_text("utf-8") == (project.directory / project.exported).read_text("utf-8")


def test_replay_of_an_export_read_from_stdin(project: Project) -> None:
    exported = (project.directory / project.exported).read_text("utf-8")

    run = project.cli("replay", "rp_cleanup:RpCleanup", "--from-jsonl", "-", stdin=exported)

    assert (run.exit_code, run.stdout, run.stderr) == (0, "", SUMMARY)


def test_text_that_is_not_valid_unicode_exports_as_json_escapes_and_reads_back(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite accepted lone surrogates (os.fsdecode's '\udcff') before they were
    # refused at the boundary (hence the check switched off to write one here):
    # such streams must still export, losslessly.
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = open_store(url, clock=FixedClock())
    with monkeypatch.context() as patch:
        patch.setattr("pmc.runtime.stores.sql.check_append", lambda *args: None)
        event = compiled(BASE).RebaseFailed(rebase_id="r1", instances=["A\udcff", "é"])
        store.append("RpCleanup", "r1", [NewEvent(event, uuid.uuid4())], 0)
    store.close()

    run = project.cli("export", "rp_cleanup:RpCleanup", "--store", url, "-o", "old.jsonl")

    assert (run.exit_code, run.stderr) == (0, "exported 1 stream, 1 event of RpCleanup\n")
    text = (project.directory / "old.jsonl").read_text("utf-8")
    assert '"instances":["A\\udcff","é"]' in text  # a JSON escape; other text as it is
    [exported] = read_json_lines(text.splitlines())
    assert exported.payload["instances"] == ["A\udcff", "é"]
    replayed = project.cli("replay", "rp_cleanup:RpCleanup", "--from-jsonl", "old.jsonl")
    assert "internal error" not in replayed.stderr
    assert replayed.stderr.endswith("replayed 1 stream, 1 event, 0 failures\n")


def test_json_findings_go_to_stdout(project: Project) -> None:
    run = project.cli("replay", "rp_cleanup_next", "--store", project.store, "--format", "json")

    assert (run.exit_code, run.stderr) == (1, "")
    document = json.loads(run.stdout)
    assert (document["streams"], document["events"], document["failures"]) == (2, 19, 1)
    assert [(f["code"], f["key"], f["version"]) for f in document["findings"]] == [
        ("REPLAY_UNKNOWN_STATE", "r2", 8)
    ]


def test_github_annotations_for_a_failing_stream(project: Project) -> None:
    run = project.cli(
        "replay", "rp_cleanup_next", "--from-jsonl", project.exported, "--format", "github"
    )

    # Where `pmc check --format github` prints its annotations: stdout.
    assert run.exit_code == 1
    assert run.stdout.splitlines() == [
        "::error title=REPLAY_UNKNOWN_STATE::RpCleanup/r2@8: "
        "machine `Instance` has no state `Failed`",
    ]
    assert run.stderr == "replayed 2 streams, 19 events, 1 failure\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("rp_cleanup:Nope", "--from-jsonl", "x.jsonl"), "module `rp_cleanup` has no `Nope`"),
        (("rp_cleanup:RpCleanup",), "give --store URL (or set $PMC_STORE) or --from-jsonl FILE"),
        (
            ("rp_cleanup:RpCleanup", "--store", "sqlite:///store.db", "--from-jsonl", "x.jsonl"),
            "give only one of --store URL and --from-jsonl FILE",
        ),
        (("rp_cleanup:RpCleanup", "--from-jsonl", "missing.jsonl"), "cannot read `missing.jsonl`"),
        (("rp_cleanup:RpCleanup", "--from-jsonl", "broken.jsonl"), "broken.jsonl:2: not an"),
        (("rp_cleanup:RpCleanup", "--store", "mysql://db/x"), "unsupported store URL"),
        (("rp_cleanup:RpCleanup", "--store", "sqlite:///gone.db"), "`gone.db` does not exist"),
        (
            ("rp_cleanup", "--store", "sqlite:///store.db", "--key", "r404"),
            "no stream `r404` of `RpCleanup` in the store",
        ),
    ],
)
def test_usage_and_input_errors_exit_two(
    project: Project, args: tuple[str, ...], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PMC_STORE", raising=False)
    (project.directory / "broken.jsonl").write_text("\n{\n", "utf-8")

    run = project.cli("replay", *args)

    assert (run.exit_code, run.stdout) == (2, "")
    assert run.stderr.startswith("error: ") and message in run.stderr, run.stderr


def test_export_of_a_key_without_a_stream_is_an_error_not_an_empty_file(project: Project) -> None:
    run = project.cli("export", "rp_cleanup", "--store", project.store, "--key", "r404", "-o", "x")

    assert (run.exit_code, run.stdout) == (2, "")
    assert run.stderr == "error: no stream `r404` of `RpCleanup` in the store\n"
    assert not (project.directory / "x").exists()


def test_an_explicit_export_file_wins_over_the_store_in_the_environment(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PMC_STORE", "sqlite:///nowhere.db")  # would fail if it were read

    run = project.cli("replay", "rp_cleanup:RpCleanup", "--from-jsonl", project.exported)

    assert (run.exit_code, run.stdout, run.stderr) == (0, "", SUMMARY)


def test_the_store_in_the_environment_is_the_default_source(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PMC_STORE", project.store)

    run = project.cli("replay", "rp_cleanup:RpCleanup")

    assert (run.exit_code, run.stdout, run.stderr) == (0, "", SUMMARY)


def test_concise_prints_the_findings_without_the_summary(project: Project) -> None:
    run = project.cli(
        "replay", "rp_cleanup_next", "--from-jsonl", project.exported, "--format", "concise"
    )

    assert (run.exit_code, run.stdout) == (1, "")
    assert run.stderr == (
        "r2@8: error[REPLAY_UNKNOWN_STATE]: machine `Instance` has no state `Failed`\n"
    )


def test_no_streams_is_a_warning_unless_streams_are_required(project: Project) -> None:
    (project.directory / "empty.jsonl").write_text("", "utf-8")

    lenient = project.cli("replay", "rp_cleanup", "--from-jsonl", "empty.jsonl")
    strict = project.cli("replay", "rp_cleanup", "--from-jsonl", "empty.jsonl", "--require-streams")
    found = project.cli(
        "replay", "rp_cleanup", "--from-jsonl", project.exported, "--require-streams"
    )

    assert (lenient.exit_code, lenient.stdout) == (0, "")
    assert lenient.stderr == (
        "warning: no streams of `RpCleanup` to replay\nreplayed 0 streams, 0 events, 0 failures\n"
    )
    assert (strict.exit_code, strict.stdout) == (1, "")
    assert strict.stderr == (
        "error: no streams of `RpCleanup` to replay\nreplayed 0 streams, 0 events, 0 failures\n"
    )
    assert (found.exit_code, found.stderr) == (0, SUMMARY)


def test_no_streams_is_a_finding_for_programs(project: Project) -> None:
    (project.directory / "empty.jsonl").write_text("", "utf-8")

    github = project.cli(
        "replay", "rp_cleanup", "--from-jsonl", "empty.jsonl", "--format", "github"
    )
    required = project.cli(
        "replay",
        "rp_cleanup",
        "--from-jsonl",
        "empty.jsonl",
        "--format",
        "json",
        "--require-streams",
    )

    assert github.exit_code == 0
    assert github.stdout == (
        "::warning file=empty.jsonl,line=1,col=1,endLine=1,endColumn=2,"
        "title=REPLAY_NO_STREAMS::no streams of `RpCleanup` to replay\n"
    )
    assert (required.exit_code, required.stderr) == (1, "")
    [finding] = json.loads(required.stdout)["findings"]
    assert (finding["code"], finding["severity"], finding["path"]) == (
        "REPLAY_STREAMS_REQUIRED",
        "error",
        "empty.jsonl",
    )
