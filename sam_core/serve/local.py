"""Start the real service in a child process on a free loopback port (for tests, benchmarks, the app's e2e).

    with LocalServer(["--model", "nano"]) as server:
        SamServiceClient(server.url).health()
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalServer:
    """``python -m sam_core.serve ARGS --host 127.0.0.1 --port <free>`` until ``stop()`` (or the with block ends).

    Arguments:
      args: extra command-line arguments (``--model``, ``--token``, limits, ...).
      env: extra environment variables for the child.
      nice: scheduling niceness added to the child (a background job may own the CPU).
      startup_timeout_s: how long to wait for ``/health`` to answer.
      port: the port to bind (default: a free one).
    The child's stdout and stderr go to ``log_path`` (read it with ``log()``).
    """

    def __init__(self, args: list[str] | None = None, env: dict[str, str] | None = None, nice: int = 0,
                 startup_timeout_s: float = 60.0, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = list(args or [])
        self.env = {**os.environ, **(env or {})}
        self.nice = nice
        self.startup_timeout_s = startup_timeout_s
        self.log_path = Path(tempfile.mkstemp(prefix="sam_serve_", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def start(self) -> LocalServer:
        command = [sys.executable, "-m", "sam_core.serve", *self.args, "--host", "127.0.0.1", "--port",
                   str(self.port)]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            preexec_fn=(lambda: os.nice(self.nice)) if self.nice else None)
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not answer /health within {self.startup_timeout_s} s:\n{self.log()[-3000:]}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def rss_bytes(self) -> int:
        """Resident memory of the server process (Linux /proc)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("VmRSS not found")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
