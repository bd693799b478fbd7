"""The virtualenv with the peers: created and filled once, after a disk-space check."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import GB, log

# What the install takes, measured on Linux x86-64 with Python 3.11 (2026-11): `pip install
# torch tinygrad numpy` downloaded 3.0 GB of wheels (torch 2.15.0 plus 16 nvidia-*/cuda-* wheels
# and triton, which PyPI's Linux torch pulls in even on a machine without a GPU) in about 3
# minutes, the finished virtualenv holds 5.7 GB, and the disk peaked 8.9 GB above where it
# started (the downloaded wheels sit in pip's temporary directory until the install ends; a
# pip cache would hold another copy). tinygrad and NumPy alone: about 20 MB downloaded, 0.13 GB
# installed. Each figure below is that measurement plus ~40%.
# Per package: (bytes where the virtualenv goes, bytes where pip downloads: its cache and TMPDIR).
INSTALL_NEEDS = {
    "torch": (8.0 * GB, 4.5 * GB),
    "tinygrad": (0.2 * GB, 0.1 * GB),
    "numpy": (0.2 * GB, 0.1 * GB),
}


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def pip_cache_dir() -> Path | None:
    """Where pip will cache downloads, or None when caching is off."""
    if os.environ.get("PIP_NO_CACHE_DIR", "").lower() in ("1", "true", "yes", "on"):
        return None
    if os.environ.get("PIP_CACHE_DIR"):
        return Path(os.environ["PIP_CACHE_DIR"])
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True, timeout=60)
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip().splitlines()[-1])
        if "disabled" in (out.stderr + out.stdout).lower():
            return None
    except (OSError, subprocess.SubprocessError):
        pass
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pip"


def check_disk(venv: Path, packages: list[str]) -> None:
    """Stops the script, saying what is needed where, unless each filesystem has room."""
    need_venv = sum(INSTALL_NEEDS[p][0] for p in packages)
    need_download = sum(INSTALL_NEEDS[p][1] for p in packages)
    places = [("the virtualenv", venv, need_venv), ("pip's temporary files", Path(tempfile.gettempdir()), need_download)]
    cache = pip_cache_dir()
    if cache is not None:
        places.append(("pip's cache", cache, need_download))
    by_fs: dict[int, dict] = {}
    for what, path, need in places:
        anchor = existing_ancestor(path)
        entry = by_fs.setdefault(os.stat(anchor).st_dev, {"anchor": anchor, "need": 0.0, "what": []})
        entry["need"] += need
        entry["what"].append(f"{what} ({path})")
    log(f"installing {' '.join(packages)} needs about {need_venv / GB:.1f} GB for the virtualenv "
        f"and {need_download / GB:.1f} GB for downloads" + (" (counted for pip's cache and for TMPDIR)" if cache else ""))
    short = []
    for entry in by_fs.values():
        free = shutil.disk_usage(entry["anchor"]).free
        status = "ok" if free >= entry["need"] else "NOT ENOUGH"
        log(f"  {entry['anchor']}: {free / GB:.1f} GB free, {entry['need'] / GB:.1f} GB needed for "
            f"{', '.join(entry['what'])}: {status}")
        if free < entry["need"]:
            short.append(entry)
    if short:
        lines = [f"{e['anchor']} has {shutil.disk_usage(e['anchor']).free / GB:.1f} GB free, needs {e['need'] / GB:.1f} GB"
                 for e in short]
        hint = ("PyTorch from PyPI brings ~3 GB of CUDA wheels on Linux; --skip-torch avoids them, "
                "--venv DIR and TMPDIR/PIP_CACHE_DIR (or PIP_NO_CACHE_DIR=1) put the install elsewhere.")
        raise SystemExit("compare.py: not enough disk space to install the peers: " + "; ".join(lines) + ". " + hint)


def package_importable(python: Path, module: str) -> bool:
    try:
        return subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, timeout=300).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def ensure_venv(venv: Path, want: list[str], specs: dict[str, str]) -> Path:
    """The virtualenv's Python, with `want` importable; installs what is missing."""
    python = venv_python(venv)
    missing = want if not python.exists() else [p for p in want if not package_importable(python, p)]
    if not missing:
        log(f"using the virtualenv {venv} ({', '.join(want)} already installed)")
        return python
    check_disk(venv, missing)
    started = time.time()
    if not python.exists():
        log(f"creating the virtualenv {venv} (python3 -m venv; on Debian this needs the python3-venv package)")
        result = subprocess.run([sys.executable, "-m", "venv", str(venv)])
        if result.returncode != 0 or not python.exists():
            raise SystemExit("compare.py: `python3 -m venv` failed; on Debian/Ubuntu: apt-get install python3-venv")
        # Keep the virtualenv out of git without touching the repository's .gitignore.
        (venv / ".gitignore").write_text("*\n")
    args = [specs.get(p, p) for p in missing]
    log(f"pip install {' '.join(args)} (from PyPI; torch takes a few minutes)…")
    result = subprocess.run([str(python), "-m", "pip", "install", *args], stdout=sys.stderr)
    if result.returncode != 0:
        raise SystemExit(f"compare.py: pip install failed (exit {result.returncode}); the virtualenv is {venv}")
    log(f"installed in {time.time() - started:.0f} s; the virtualenv now takes {dir_size(venv) / GB:.2f} GB")
    return python


def dir_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total
