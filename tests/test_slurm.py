"""The SLURM profile on a real single-node SLURM (tests/slurm/up.sh): the demo's
genre-fusion DAG through `--profile profiles/slurm` gives the table of a local run, every
rule runs inside a SLURM job, GPU rules on the gpu partition with a GPU, and a job
cancelled while it runs is submitted again.

Needs root (apt-get install slurm-wlm munge, daemons started by up.sh). Without root or
apt the module is skipped, except under CI=1 or MUSICSTEER_REQUIRE_SLURM=1: then it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import DEMO, RESULTS

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
UP, DOWN = REPO / "tests/slurm/up.sh", REPO / "tests/slurm/down.sh"
# the tests' demo config (tiny models) with one steering pair: every rule of the genre-fusion DAG, fewer jobs
ONE_PAIR = REPO / "tests/slurm/one_pair.yaml"
TARGET = f"{RESULTS}/tables/genre_fusion.csv"
CONFIG = [*DEMO, str(ONE_PAIR)]  # after the targets
GPU_RULES = {"extract_activations", "generate_baseline", "steer", "score"}
LOCAL_RULES = {"genre_fusion_table", "instrument_transfer_table", "listen", "merge_steered"}
# cancelled once while it runs; nothing needs it until score, so the retry is cheap
CANCEL = "rule_build_builtin_model_wildcards_tiny-clap"
CANCEL_AFTER = 5  # seconds into the job: snakemake inside it has started
TIMEOUT = 900
pytestmark = pytest.mark.slurm


def _required() -> bool:
    flags = (os.environ.get("CI", ""), os.environ.get("MUSICSTEER_REQUIRE_SLURM", ""))
    return any(f.lower() in {"1", "true", "yes"} for f in flags)


@pytest.fixture(scope="session")
def cluster():
    """A running test cluster, stopped when the session ends.

    Not when this module ends: every later ``snakemake`` start loads the SLURM plugin,
    whose ``scontrol show config`` waits 9 s for a controller that is down.
    """
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        pytest.fail("snakemake-executor-plugin-slurm is missing: pip install -e '.[workflow]'")
    up = subprocess.run(
        ["bash", str(UP)], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900
    )
    if up.returncode == 3 and not _required():
        pytest.skip(up.stderr.strip().splitlines()[-1])
    assert up.returncode == 0, (
        f"tests/slurm/up.sh failed (exit {up.returncode}; CI/MUSICSTEER_REQUIRE_SLURM make "
        f"the SLURM tests mandatory):\n{up.stdout}\n{up.stderr}"
    )
    yield
    subprocess.run(["bash", str(DOWN)], stdin=subprocess.DEVNULL, capture_output=True, timeout=120)


@dataclass
class SlurmRun:
    work: Path
    local: Path
    done: subprocess.CompletedProcess
    local_done: subprocess.CompletedProcess
    seconds: float
    jobs: dict[str, dict] = field(default_factory=dict)  # squeue, by SLURM job id
    cancelled: str | None = None


def _copy(dest: Path) -> Path:
    for item in ("workflow", "config", "profiles"):
        shutil.copytree(REPO / item, dest / item)
    return dest


def _squeue() -> list[dict[str, str]]:
    keys = ["id", "partition", "state", "gpus", "workdir", "comment"]
    out = subprocess.run(
        [
            "squeue",
            "-t",
            "all",
            "-h",
            "-O",
            "JobID:|,Partition:|,State:|,tres-per-job:|,WorkDir:|,Comment:",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return [dict(zip(keys, line.split("|"), strict=False)) for line in out.splitlines()]


def _allocated_gres(job_id: str) -> str:
    """The GRES a running job holds, e.g. gpu:1(IDX:0): SLURM's CUDA_VISIBLE_DEVICES."""
    out = subprocess.run(
        ["scontrol", "-d", "-o", "show", "job", job_id], capture_output=True, text=True, timeout=30
    ).stdout
    found = re.search(r"(?:^| )GRES=(\S*)", out)
    return found.group(1) if found else ""


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory: pytest.TempPathFactory) -> SlurmRun:
    """The genre-fusion target through the SLURM profile, next to a local reference run.

    The local run (one core, niced) fills the CPU time the SLURM run leaves idle while
    jobs start and wait for status checks. While the SLURM run goes, squeue is recorded
    (and the GRES of every running job), and one running job is cancelled.
    """
    work = _copy(tmp_path_factory.mktemp("slurm"))
    local = _copy(tmp_path_factory.mktemp("local"))
    log, local_log = work / "snakemake.out", local / "snakemake.out"  # files: pipes fill up
    start = time.monotonic()
    with open(local_log, "w") as out:
        reference = subprocess.Popen(
            [SNAKEMAKE, "--cores", "1", TARGET, *CONFIG],
            cwd=local,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: os.nice(10),
        )
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                SNAKEMAKE,
                "--profile",
                "profiles/slurm",
                TARGET,
                "--retries",
                "1",
                "--slurm-keep-successful-logs",
                *CONFIG,
            ],
            cwd=work,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    jobs: dict[str, dict] = {}
    cancelled = None
    try:
        while proc.poll() is None:
            for job in _squeue():
                if Path(job["workdir"]) != work:
                    continue
                job = jobs[job["id"]] = {**jobs.get(job["id"], {}), **job}
                if job["state"] == "RUNNING" and "alloc" not in job:
                    job["alloc"] = _allocated_gres(job["id"])
                if job["state"] == "RUNNING":
                    job.setdefault("running_since", time.monotonic())
                if (
                    cancelled is None
                    and job["comment"] == CANCEL
                    and job["state"] == "RUNNING"
                    and time.monotonic() - job["running_since"] > CANCEL_AFTER
                ):
                    subprocess.run(["scancel", job["id"]], check=True, timeout=30)
                    cancelled = job["id"]
            if time.monotonic() - start > TIMEOUT:
                proc.kill()
                pytest.fail(f"the SLURM run took over {TIMEOUT} s")
            time.sleep(0.5)
        for job in _squeue():  # final states
            if job["id"] in jobs:
                jobs[job["id"]].update(job)
        seconds = time.monotonic() - start
        reference.wait(timeout=TIMEOUT)
    finally:
        for p in (proc, reference):
            if p.poll() is None:
                p.kill()
    print(f"SLURM run: {seconds:.0f} s, {len(jobs)} SLURM jobs")
    return SlurmRun(
        work=work,
        local=local,
        seconds=seconds,
        jobs=jobs,
        cancelled=cancelled,
        done=subprocess.CompletedProcess(proc.args, proc.returncode, log.read_text(), ""),
        local_done=subprocess.CompletedProcess(
            reference.args, reference.returncode, local_log.read_text(), ""
        ),
    )


def test_slurm_run_gives_the_local_genre_fusion_table(slurm_run):
    assert slurm_run.local_done.returncode == 0, slurm_run.local_done.stdout[-4000:]
    assert slurm_run.done.returncode == 0, slurm_run.done.stdout[-6000:]
    on_slurm = pd.read_csv(slurm_run.work / TARGET)
    local = pd.read_csv(slurm_run.local / TARGET)
    assert len(on_slurm) > 0
    pd.testing.assert_frame_equal(on_slurm, local, check_exact=False, atol=1e-4, rtol=0)


def _rules_in_dag(output: str) -> set[str]:
    stats = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    rows = [line.split() for line in stats.splitlines()[3:]]
    return {row[0] for row in rows if len(row) == 2 and row[0] != "total"}


def test_every_rule_ran_inside_a_slurm_job(slurm_run):
    assert slurm_run.done.returncode == 0, slurm_run.done.stdout[-6000:]
    rules = _rules_in_dag(slurm_run.done.stdout)
    assert {
        "build_builtin_model",
        "extract_activations",
        "probe_task",
        "steer",
        "score",
        "genre_fusion_table",
    } <= rules
    logs = sorted((slurm_run.work / ".snakemake/slurm_logs").rglob("*.log"))
    ran = {m for log in logs for m in re.findall(r"^\s*rule (\w+):$", log.read_text(), re.M)}
    # every rule ran in a SLURM job but the Snakefile's localrules, which never did (the
    # main output cannot tell: it quotes the log of the cancelled job, whose step ran it
    # as a "localrule" on the node)
    local = rules - ran
    assert local <= LOCAL_RULES and not ran & LOCAL_RULES, (ran, local, rules)
    assert all(f"localrule {rule}:" in slurm_run.done.stdout for rule in local), local
    assert GPU_RULES & rules <= ran
    # the pair's grid ran as one GPU job per site (steering.split), merged locally
    steer_jobs = {
        j["comment"] for j in slurm_run.jobs.values() if j["comment"].startswith("rule_steer_")
    }
    assert len(steer_jobs) == 2 and "merge_steered" in local, (steer_jobs, local)
    # one SLURM job per log, each seen in squeue in this run's folder
    ids = {log.stem for log in logs}
    assert ids <= set(slurm_run.jobs), (ids, slurm_run.jobs)


def test_gpu_rules_ran_on_the_gpu_partition_with_a_gpu(slurm_run):
    gpu_jobs = [j for j in slurm_run.jobs.values() if any(r in j["comment"] for r in GPU_RULES)]
    cpu_jobs = [j for j in slurm_run.jobs.values() if j not in gpu_jobs]
    assert gpu_jobs and cpu_jobs
    for job in gpu_jobs:  # --gpus=1, and one GPU allocated (CUDA_VISIBLE_DEVICES=<IDX>)
        assert job["partition"] == "gpu" and "gpu:1" in job["gpus"], job
        assert re.fullmatch(r"gpu:1\(IDX:\d\)", job.get("alloc", "")), job
    for job in cpu_jobs:
        assert job["partition"] == "cpu" and "gpu" not in job["gpus"] + job.get("alloc", ""), job


def test_a_cancelled_job_is_submitted_again(slurm_run):
    assert slurm_run.cancelled, f"no running {CANCEL} job was seen to cancel"
    runs = sorted(
        (j for j in slurm_run.jobs.values() if j["comment"] == CANCEL), key=lambda j: int(j["id"])
    )
    assert [j["state"] for j in runs] == ["CANCELLED", "COMPLETED"], runs
    assert runs[0]["id"] == slurm_run.cancelled
    assert "CANCELLED" in slurm_run.done.stdout
    assert slurm_run.done.returncode == 0
    assert (slurm_run.work / "resources/models/tiny-clap/musicsteer.json").exists()
