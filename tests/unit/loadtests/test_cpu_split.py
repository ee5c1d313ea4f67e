"""The CPU split's command line and table (the run itself needs TorchServe: docs/benchmarks.md)."""

from pathlib import Path

import pytest

from loadtests import cpu_split


def test_artifacts_without_the_model_are_one_line_and_exit_2(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cpu_split.parse_args(["--artifacts", str(tmp_path), "--model", "cnn_digits"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == f"error: {tmp_path} has no trained cnn_digits (make export trains it)\n"


def test_the_server_total_leaves_out_the_client_and_a_missing_part_is_a_dash() -> None:
    stack = cpu_split.Split("stack", 1643.2, {"gateway": 0.286, "jvm": 0.241, "workers": 0.249, "wrk": 0.075})
    direct = cpu_split.Split("direct", 2966.0, {"jvm": 0.158, "workers": 0.196, "wrk": 0.039})
    assert stack.total_ms == pytest.approx(0.776)
    lines = cpu_split.table([stack, direct]).splitlines()
    assert lines[2] == "| stack | 1643 | 0.286 | 0.241 | 0.249 | 0.776 | 0.075 |"
    assert lines[3] == "| direct | 2966 | — | 0.158 | 0.196 | 0.354 | 0.039 |"


JSTACK = '''2026-12-03 13:01:52
Full thread dump OpenJDK 64-Bit Server VM (25.0.2+10-LTS mixed mode, sharing):

"main" #1 [4101] prio=5 os_prio=0 cpu=1520.11ms elapsed=95.20s tid=0x00007f5c1002a0c0 nid=4101 waiting on condition
   java.lang.Thread.State: WAITING (parking)

"epollEventLoopGroup-3-1" #31 [4180] prio=10 os_prio=0 cpu=812.50ms elapsed=90.01s tid=0x1 nid=4180 runnable
"epollEventLoopGroup-5-2" #44 [4199] prio=10 os_prio=0 cpu=100.25ms elapsed=88.00s tid=0x2 nid=4199 runnable
"W-9000-mlp_classifier_1.0" #38 [4190] prio=5 os_prio=0 cpu=400.00ms elapsed=89.00s tid=0x3 nid=4190 waiting
"W-9000-mlp_classifier_1.0-stdout" #39 [4191] prio=5 os_prio=0 cpu=300.00ms elapsed=89.00s tid=0x4 nid=4191 runnable
"C2 CompilerThread0" #9 [4110] daemon prio=9 os_prio=0 cpu=2000.00ms elapsed=95.00s tid=0x5 nid=4110 waiting
"VM Thread" os_prio=0 cpu=55.50ms elapsed=95.21s tid=0x6 nid=4105 runnable
'''


def test_jstack_threads_are_grouped_by_name_with_their_numbers_folded() -> None:
    assert cpu_split.thread_groups(JSTACK) == {
        "main": 1520.11, "epollEventLoopGroup-N-N": 912.75, "W-N-mlp_classifier_N.N": 400.0,
        "W-N-mlp_classifier_N.N-stdout": 300.0, "CN CompilerThreadN": 2000.0, "VM Thread": 55.5}


def test_the_threads_table_orders_groups_by_cost_and_sums_the_rest_and_the_total_leaves_threads_out() -> None:
    thread = cpu_split.THREAD
    stack = cpu_split.Split("stack", 2400.0, {"gateway": 0.26, "jvm": 0.14, "workers": 0.2, "wrk": 0.08,
                                              thread + "epoll": 0.05, thread + "W": 0.03, thread + "C2": 0.02})
    direct = cpu_split.Split("direct", 3500.0, {"jvm": 0.12, "workers": 0.2, "wrk": 0.04,
                                                thread + "epoll": 0.06, thread + "W": 0.02})
    assert stack.total_ms == pytest.approx(0.6)
    assert cpu_split.threads_table([stack, direct], shown=2).splitlines() == [
        "| JVM thread group | stack | direct |", "|---|---|---|",
        "| epoll | 0.0500 | 0.0600 |", "| W | 0.0300 | 0.0200 |", "| the other 1 | 0.0200 | 0.0000 |"]


def test_a_thread_group_missing_from_a_run_counts_zero_in_the_median() -> None:
    runs = [(100.0, {"jvm": 0.1, "jvm thread: late": 0.3}), (200.0, {"jvm": 0.2}), (300.0, {"jvm": 0.3})]
    split = cpu_split.median_split("s", runs)
    assert (split.requests_per_s, split.cpu_ms) == (200.0, {"jvm": 0.2, "jvm thread: late": 0.0})
