"""Dashboard.demo() in a real kernel: running its cell again must not leave another simulator
process behind (issue 12, finding 9: two stayed alive until the kernel exited), and closing the
last demo dashboard stops the one it shares."""

from __future__ import annotations

import json

import psutil

from .kernel_frontend import KernelFrontend

SETUP = """
import json, os, psutil
from IPython.display import display
from llmeter_widget import Dashboard
def simulators():  # this kernel's simulator child processes
    return sorted(p.pid for p in psutil.Process(os.getpid()).children(recursive=True)
                  if 'llmeter_widget.simulator' in ' '.join(p.cmdline()))
print('ready')
"""


def test_running_the_demo_cell_again_reuses_its_simulator(tmp_path):
    fe = KernelFrontend(str(tmp_path))
    try:
        assert fe.execute(SETUP) == "ready"
        # the notebook's cell, run three times (the user re-runs it)
        pids = []
        for _ in range(3):
            out = fe.execute("dash = Dashboard.demo(); display(dash); print(json.dumps(simulators()))")
            pids.append(json.loads(out.splitlines()[-1]))
        assert len(pids[0]) == 1 and pids[1] == pids[0] and pids[2] == pids[0], pids
        # a dashboard with other server settings gets its own; closing it stops that one only
        out = fe.execute("other = Dashboard.demo(max_batch=4); other.close(); "
                         "print(json.dumps(simulators()))")
        assert json.loads(out.splitlines()[-1]) == pids[0]
        # the demo's cell can still run: the shared simulator answers
        out = fe.execute("r = await Dashboard.demo(mode='count', clients=2, n_requests=1).run(); "
                         "print(r.stats['successful_requests'])")
        assert out.splitlines()[-1] == "2"
        # closing every demo dashboard stops it
        out = fe.execute("from llmeter_widget.views import dashboard as d\n"
                         "for x in list(d._DEMO_DASHBOARDS): x.close()\n"
                         "print(json.dumps(simulators()))")
        assert json.loads(out.splitlines()[-1]) == []
        assert not psutil.pid_exists(pids[0][0]) or \
            psutil.Process(pids[0][0]).status() == psutil.STATUS_ZOMBIE
    finally:
        fe.shutdown()
