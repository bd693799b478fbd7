"""What every part of the peer comparison shares: its paths, progress on stderr and child processes
whose output is echoed there."""
from __future__ import annotations

import collections
import re
import subprocess
import sys
import threading
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parent
SCRIPT = PEERS_DIR / "compare.py"  # the entry point; each worker is this file again, with --worker
REPO_ROOT = PEERS_DIR.parent.parent
DEFAULT_VENV = PEERS_DIR / ".venv"
DEFAULT_ALIGNCL = Path(".build/release/aligncl")  # relative to the repository root

GB = 1e9


class PeerUnavailable(RuntimeError):
    """A peer cannot run any case here (PyTorch without CUDA for --torch-device cuda): the worker
    reports the one-line message without a traceback, and compare.py starts no more cases of that
    peer, marks them with it and exits non-zero."""


def log(message: str) -> None:
    print(f"[compare] {message}", file=sys.stderr, flush=True)


NOISE = re.compile(r"^\s*\d+ warnings? generated\.\s*$")


def run_echoing(command: list[str], env=None, timeout=None, prefix="  | ", cwd=None):
    """Runs `command`, echoing its stderr (and stdout, unless captured) to our stderr.
    Returns (exit code or None on time-out, captured stdout, last stderr lines)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd,
                               text=True, errors="replace")
    tail = collections.deque(maxlen=40)
    out_chunks = []

    def pump_err():
        for line in process.stderr:
            line = line.rstrip("\n")
            if NOISE.match(line):  # PoCL's compiler reports each kernel's warnings count
                continue
            tail.append(line)
            print(prefix + line, file=sys.stderr, flush=True)

    def pump_out():
        out_chunks.append(process.stdout.read())

    threads = [threading.Thread(target=pump_err, daemon=True), threading.Thread(target=pump_out, daemon=True)]
    for thread in threads:
        thread.start()
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        code = None
    except KeyboardInterrupt:
        process.kill()
        process.wait()
        raise
    for thread in threads:
        thread.join(timeout=10)
    return code, "".join(out_chunks), list(tail)


def last_error_line(tail: list[str]) -> str:
    for line in reversed(tail):
        text = line.strip()
        if text and not text.startswith(("File ", "^", "~")):
            return text[:300]
    return "no output"
