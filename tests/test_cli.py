"""The `llmeter-widget` command, run as a real subprocess against a real simulator process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from llmeter_widget import Result, __version__
from llmeter_widget.display import format_value
from llmeter_widget.simulator import SimulatedServer

from .waiting import wait_until

CLI = [sys.executable, "-m", "llmeter_widget.cli"]


@pytest.fixture(scope="module")
def sim():
    with SimulatedServer.spawn(mode="fixed", ttft=0.02, itl=0.005) as server:
        yield server


def run_cli(*args, timeout=60, env=None):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_time_bound_run_end_to_end(sim, tmp_path):
    proc = run_cli("run", "--url", sim.base_url, "--model", "sim", "--clients", "4",
                   "--duration", "1.5", "--max-tokens", "8", "--output", str(tmp_path),
                   "--run-name", "cli")
    assert proc.returncode == 0, proc.stderr
    # not a TTY: the final grouped table is printed once, plainly
    for group in ("Throughput", "TTFT", "TTLT", "Tokens", "Errors"):
        assert group in proc.stderr
    assert "\x1b[" not in proc.stderr
    assert f"Result saved in {tmp_path / 'cli'}" in proc.stderr
    result = Result.load(tmp_path / "cli")
    assert result.status == "completed" and result.run_duration == 1.5
    assert result.stats["total_requests"] > 20 and result.stats["failed_requests"] == 0


def test_count_bound_low_memory_completions(sim, tmp_path):
    proc = run_cli("run", "--url", sim.base_url, "--model", "sim", "--api", "completions",
                   "--clients", "3", "--requests", "2", "--low-memory", "--output", str(tmp_path),
                   "--run-name", "lm")
    assert proc.returncode == 0, proc.stderr
    result = Result.load(tmp_path / "lm", load_responses=False)
    assert result.stats["total_requests"] == 6 and result.low_memory


@pytest.mark.parametrize(
    "args, message",
    [
        (["--clients", "0"], "--clients: 0 is too small"),
        (["--duration", "-3"], "must be more than 0 seconds"),
        (["--drain-timeout", "-1"], "must be 0 seconds or more"),
        (["--duration", "5", "--requests", "2"], "not allowed with argument"),
        (["--url", "localhost:8000/v1"], "needs http:// or https:// and a host"),
        (["--url", "ftp://x/v1"], "uses ftp://: the API is served over http:// or https://"),
        # in the command's own words: the endpoint's Python wording ("pass api_key=") is not
        (["--api-key-env", "SURELY_UNSET_VAR_X"], "Export it first (export SURELY_UNSET_VAR_X=...)"),
        # an unknown key: the error lists every key, wrapped, not one 1,200-character line
        (["--stat", "X=time_to_frist_token-p95"], "Did you mean 'time_to_first_token-p95'?"),
        (["--payload", "/nope/p.jsonl"], "does not exist"),
    ],
)
def test_bad_arguments_name_the_problem(sim, args, message):
    base = {"--url": sim.base_url, "--model": "sim"}
    for i in range(0, len(args), 2):
        base.pop(args[i], None)
    argv = ["run", *[x for kv in base.items() for x in kv], *args, "--output", ""]
    proc = run_cli(*argv)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "api_key=" not in proc.stderr
    assert max(map(len, proc.stderr.splitlines())) <= 200, proc.stderr  # wrapped, not 1,200


def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"llmeter-widget {__version__}"


def _sigint_as(disposition):
    """preexec_fn: start the child with SIGINT set to `disposition` (not what pytest has)."""
    return lambda: signal.signal(signal.SIGINT, disposition)


def _jsonl_lines(path):
    return len(path.read_text().splitlines()) if path.exists() else 0


# SIG_IGN: what a command launched in the background (`nohup ... &`) inherits. The CLI must
# still stop on Ctrl-C and save what it measured (before the fix it ran on, ignoring it).
@pytest.mark.parametrize("inherited", [signal.SIG_DFL, signal.SIG_IGN], ids=["default", "ignored"])
def test_ctrl_c_leaves_an_interrupted_loadable_result(sim, tmp_path, inherited):
    folder = tmp_path / "ctrlc"
    proc = subprocess.Popen(
        [*CLI, "run", "--url", sim.base_url, "--model", "sim", "--clients", "2", "--duration", "60",
         "--output", str(tmp_path), "--run-name", "ctrlc"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_sigint_as(inherited),
    )
    try:
        # responses are being written: at least one request finished, two are in flight
        wait_until(lambda: _jsonl_lines(folder / "responses.jsonl") >= 2 or proc.poll() is not None,
                   "the CLI to write responses", timeout=30)
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # never leave a CLI running, whatever failed above
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert f"Interrupted: what was measured is saved in {folder}" in err
    result = Result.load(folder)
    assert result.status == "interrupted"
    lines = _jsonl_lines(folder / "responses.jsonl")
    # the two in-flight requests were saved as cancelled; all the others were counted
    assert result.stats["cancelled_requests"] == 2
    assert result.stats["total_requests"] == lines - 2 >= 2


def test_simulate_command_serves_until_interrupted():
    proc = subprocess.Popen([*CLI, "simulate", "--port", "0", "--mode", "fixed"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("llmeter-widget simulator listening on http://127.0.0.1:")
        url = line.split()[-1]
        import urllib.request
        with urllib.request.urlopen(url + "/models", timeout=5) as resp:
            assert b'"sim"' in resp.read()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_demo_command(tmp_path):
    proc = run_cli("demo", "--duration", "1.5", "--clients", "4", "--output", str(tmp_path),
                   "--run-name", "demo", timeout=90)
    assert proc.returncode == 0, proc.stderr
    assert "Simulated LLM server" in proc.stderr
    assert Result.load(tmp_path / "demo").stats["total_requests"] > 0


def test_chosen_stats_and_price_on_the_command_line(sim, tmp_path):
    proc = run_cli("run", "--url", sim.base_url, "--model", "sim", "--clients", "2",
                   "--requests", "3", "--max-tokens", "8", "--output", str(tmp_path),
                   "--run-name", "chosen", "--price", "3,15",
                   "--stat", "p95 TTFT=time_to_first_token-p95",
                   "--stat", "Spent=cost-total:$", "--stat", "Done=total_requests",
                   "--stat", "Speed=time_per_output_token-p50:tok/s:inverse",
                   "--stat", "Per 1k=cost-per_request:$:1000")
    assert proc.returncode == 0, proc.stderr
    table = proc.stderr.split("\n")
    assert any(line.strip().startswith("TTFT") and "p95 TTFT" in line for line in table)
    assert any(line.strip().startswith("Cost") and "Spent $0.0" in line for line in table)
    assert "Requests/min" not in proc.stderr  # --stat replaces the default table
    stats = Result.load(tmp_path / "chosen", load_responses=False).stats
    speed = format_value(stats["time_per_output_token-p50"], "tok/s", invert=True)
    assert any(f"Speed {speed}" in line for line in table)
    per_1k = format_value(stats["cost-per_request"], "$", scale=1000)
    assert any(f"Per 1k {per_1k}" in line for line in table), (per_1k, table)
    stats = Result.load(tmp_path / "chosen", load_responses=False).stats
    assert stats["time_to_first_token-p95"] > 0 and stats["cost-total"] > 0


def test_groups_on_the_command_line(sim, tmp_path):
    proc = run_cli("run", "--url", sim.base_url, "--model", "sim", "--requests", "1",
                   "--clients", "1", "--output", str(tmp_path), "--group", "Latency=^time_to_")
    assert proc.returncode == 0, proc.stderr
    names = [line.split()[0] for line in proc.stderr.splitlines() if line.startswith("  ")]
    assert names == ["Latency", "Throughput", "Tokens", "Errors"]  # TTFT and TTLT joined, first


def test_no_stats_keeps_only_the_progress_line(sim, tmp_path):
    proc = run_cli("run", "--url", sim.base_url, "--model", "sim", "--requests", "1",
                   "--clients", "1", "--output", str(tmp_path), "--no-stats")
    assert proc.returncode == 0, proc.stderr
    assert "1 done" in proc.stderr and "Throughput" not in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["--stat", "p99=time_to_first_tokn-p99"], "Did you mean 'time_to_first_token-p99'"),
    (["--stat", "nolabel"], "is not LABEL=KEY"),
    (["--stat", "x=output_tps:tok/s:log"], "unknown transform 'log'"),
    (["--price", "0.15"], "is not two prices"),
    (["--stat", "Cost=cost-total"], "Unknown stat key 'cost-total'"),  # needs --price
    (["--group", "Bad=(unclosed"], "invalid pattern '(unclosed'"),
    (["--group", "nopattern"], "is not NAME=PATTERN"),
])
def test_bad_stat_and_price_arguments(sim, tmp_path, args, message):
    proc = run_cli("run", "--url", sim.base_url, "--model", "sim", "--requests", "1",
                   "--output", str(tmp_path), *args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not list(tmp_path.iterdir())


def test_drain_timeout_bounds_a_run_against_a_server_that_never_answers(tmp_path):
    with SimulatedServer.spawn(mode="fixed", ttft=60, itl=0.01) as slow:
        proc = run_cli("run", "--url", slow.base_url, "--model", "sim", "--clients", "2",
                       "--duration", "0.5", "--drain-timeout", "0.5", "--output", str(tmp_path),
                       "--run-name", "drained", timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "2 request(s) still in flight" in proc.stderr and "drain_timeout=0.5" in proc.stderr
    result = Result.load(tmp_path / "drained")
    assert result.status == "completed" and result.stats["cancelled_requests"] == 2


def test_workers_and_warm_connections_on_the_command_line(sim, tmp_path):
    proc = run_cli("run", "--url", sim.base_url, "--model", "sim", "--clients", "5",
                   "--requests", "3", "--max-tokens", "4", "--workers", "2", "--warm-connections",
                   "--output", str(tmp_path), "--run-name", "workers")
    assert proc.returncode == 0, proc.stderr
    result = Result.load(tmp_path / "workers")
    assert result.stats["total_requests"] == 15 and result.stats["failed_requests"] == 0
    config = json.loads((tmp_path / "workers" / "run_config.json").read_text())
    assert (config["workers"], config["warm_connections"]) == (2, True)
