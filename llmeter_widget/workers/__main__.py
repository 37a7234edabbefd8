"""`python -m llmeter_widget.workers FD`: one worker process, talking over the socket FD
(started by workers.pool.ProcessWorkers; not meant to be run by hand)."""

import sys
from multiprocessing.connection import Connection

from .process import worker_main

if __name__ == "__main__":
    worker_main(Connection(int(sys.argv[1])))
