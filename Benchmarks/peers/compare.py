#!/usr/bin/env python3
"""Compare `aligncl bench` with PyTorch (CPU path) and tinygrad (OpenCL) on the same cases.

    python3 Benchmarks/peers/compare.py                      # everything, installs the peers once
    python3 Benchmarks/peers/compare.py --cases gemm,softmax --repetitions 5 --json out.json
    python3 Benchmarks/peers/compare.py --help

The script runs under any Python 3.8+ with only the standard library. PyTorch, tinygrad and
NumPy live in a virtualenv (default Benchmarks/peers/.venv) that the script creates and fills
from PyPI on first use, after checking the free disk space. Each case of each peer runs in a
worker process of its own (this same file, run by the virtualenv's Python with --worker), so a
crash or a hang in one case is reported in its cell and the rest go on. Progress goes to stderr,
the table to stdout.
"""
from __future__ import annotations

import argparse
import collections
import datetime
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve()
PEERS_DIR = SCRIPT.parent
REPO_ROOT = PEERS_DIR.parent.parent
DEFAULT_VENV = PEERS_DIR / ".venv"
DEFAULT_ALIGNCL = Path(".build/release/aligncl")  # relative to the repository root

GB = 1e9

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


def log(message: str) -> None:
    print(f"[compare] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Cases: the same maths and the same work counts as AlignCL's (Sources/Compute/*Descriptor.swift).
# ---------------------------------------------------------------------------------------------

class Case:
    def __init__(self, key, label, family, params, variant, unit, work, names):
        self.key = key              # what --cases takes (or the family)
        self.label = label          # the table's first column
        self.family = family        # AlignCL's `family`
        self.params = params        # AlignCL's `parameters` (a subset is enough to match)
        self.variant = variant      # AlignCL's `variant`, None where it has none
        self.unit = unit
        self.work = work            # FLOPs, bytes or samples per run
        self.names = names          # AlignCL's `name`s before `family`/`parameters` existed

    @property
    def scale(self) -> float:
        """throughput = work / seconds * scale (GFLOP/s, GB/s; samples/s as they are)."""
        return 1e-9 if self.unit.startswith("G") else 1.0


def _gemm(n):
    return Case(f"gemm{n}", f"gemm {n}x{n}x{n}", "gemm", {"m": n, "n": n, "k": n}, None, "GFLOP/s",
                2.0 * n * n * n, [f"gemm {n}x{n}x{n}"])


ATT = dict(batch=4, heads=8, length=1024, dimension=64)
_att_pairs = ATT["batch"] * ATT["heads"] * ATT["length"] ** 2
NCE = dict(rows=4096, dimension=256)
LN = dict(rows=16384, columns=1024)
TRAIN_BATCH = 64

CASES = [
    _gemm(1024),
    _gemm(2048),
    # Read x, write y.
    Case("softmax", "softmax fwd 4096x4096", "softmax", {"rows": 4096, "columns": 4096}, "forward", "GB/s",
         2.0 * 4 * 4096 * 4096, ["softmax 4096x4096"]),
    # Forward q·kᵀ and p·v: 2·pairs·(D+D); backward recomputes q·kᵀ, then dv, dp, dq, dk: 2·pairs·(3D+2D).
    Case("attention", "attention fwd+bwd B4 H8 L1024 D64", "attention", dict(ATT), "fwd+bwd", "GFLOP/s",
         2.0 * _att_pairs * (2 * ATT["dimension"]) + 2.0 * _att_pairs * (5 * ATT["dimension"]),
         ["attention fwd+bwd B4 H8 L1024 D64"]),
    # Symmetric forward: 2·N²·D per direction; backward: 8·N²·D.
    Case("infonce", "InfoNCE fwd+bwd N4096 D256", "infonce", dict(NCE), "fwd+bwd", "GFLOP/s",
         4.0 * NCE["rows"] ** 2 * NCE["dimension"] + 8.0 * NCE["rows"] ** 2 * NCE["dimension"],
         ["infonce fwd+bwd N4096 D256"]),
    # Forward: read x, weight, bias, write y and the row statistics: 4·(2·RC + 2·C + 2·R).
    # Backward (our count, replaced by AlignCL's when its JSON has the case): read x, dy, weight
    # and the statistics, write dx, dweight, dbias: 4·(3·RC + 3·C + 2·R).
    Case("layernorm", "layernorm fwd+bwd 16384x1024", "layernorm", dict(LN), "fwd+bwd", "GB/s",
         4.0 * (5 * LN["rows"] * LN["columns"] + 5 * LN["columns"] + 4 * LN["rows"]),
         ["layernorm fwd+bwd 16384x1024", "layernorm fwd+bwd R16384 C1024"]),
    Case("train-step", "train step (CLIP, batch 64)", "train-step", {"batch": TRAIN_BATCH}, None, "samples/s",
         float(TRAIN_BATCH), ["train-step B64", "train step B64", "train-step batch 64", "train step batch 64"]),
]
CASE_BY_KEY = {c.key: c for c in CASES}
CASE_FAMILIES = list(dict.fromkeys(c.family for c in CASES))


def select_cases(spec: str | None) -> list[Case]:
    if not spec:
        return list(CASES)
    chosen = []
    for word in (w.strip().lower() for w in spec.split(",") if w.strip()):
        aliases = {"train": "train-step", "trainstep": "train-step", "train_step": "train-step", "nce": "infonce",
                   "gemm-1024": "gemm1024", "gemm-2048": "gemm2048", "ln": "layernorm"}
        word = aliases.get(word, word)
        matches = [c for c in CASES if c.key == word or c.family == word]
        if not matches:
            raise SystemExit(f"compare.py: unknown case '{word}'; known: "
                             + ", ".join(sorted({c.key for c in CASES} | {c.family for c in CASES})))
        chosen += [c for c in matches if c not in chosen]
    return [c for c in CASES if c in chosen]


# ---------------------------------------------------------------------------------------------
# The virtualenv: created and filled once, after a disk-space check.
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# Running child processes with their output echoed to stderr.
# ---------------------------------------------------------------------------------------------

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


def run_peer_case(python: Path, framework: str, case: Case, args) -> dict:
    with tempfile.TemporaryDirectory(prefix="aligncl-peers-") as scratch:
        result_file = Path(scratch) / "result.json"
        command = [str(python), str(SCRIPT), "--worker", framework, "--case", case.key,
                   "--repetitions", str(args.repetitions), "--warmup", str(args.warmup),
                   "--result-file", str(result_file)]
        if framework == "tinygrad":
            command += ["--tinygrad-device", args.tinygrad_device]
            if args.no_tinygrad_jit:
                command.append("--no-tinygrad-jit")
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        started = time.time()
        code, stdout, tail = run_echoing(command, env=env, timeout=args.timeout)
        if stdout.strip():
            for line in stdout.strip().splitlines()[-5:]:
                print("  | " + line, file=sys.stderr)
        if result_file.exists():
            result = json.loads(result_file.read_text())
        elif code is None:
            result = {"error": f"timed out after {args.timeout:.0f} s (--timeout)"}
        else:
            how = f"killed by signal {-code}" if code < 0 else f"exit {code}"
            result = {"error": f"worker died ({how}): {last_error_line(tail)}"}
        result["wall_seconds"] = round(time.time() - started, 1)
        return result


# ---------------------------------------------------------------------------------------------
# AlignCL: `aligncl bench --preset standard --format json`, or per family on older binaries.
# ---------------------------------------------------------------------------------------------

def resolve_aligncl(args) -> Path:
    if args.aligncl:
        path = Path(args.aligncl).expanduser()
        if not path.exists():
            raise RuntimeError(f"--aligncl {path}: no such file")
        return path.resolve()
    path = REPO_ROOT / DEFAULT_ALIGNCL
    if path.exists():
        return path
    log(f"{path} is missing: building it (swift build -c release --product aligncl in {REPO_ROOT}; several minutes)")
    result = subprocess.run(["swift", "build", "-c", "release", "--product", "aligncl"], cwd=REPO_ROOT, stdout=sys.stderr)
    if result.returncode != 0 or not path.exists():
        raise RuntimeError(f"swift build failed (exit {result.returncode}); pass --aligncl PATH to use a built binary")
    return path


def parse_json_array(text: str):
    start = text.find("[")
    while start != -1:
        try:
            value, _ = json.JSONDecoder().raw_decode(text[start:])
            if isinstance(value, list):
                return value
        except ValueError:
            pass
        start = text.find("[", start + 1)
    return None


def run_aligncl_command(binary: Path, arguments: list[str], timeout: float):
    """(rows or None, exit code, stderr tail); retries when the binary is being replaced."""
    for attempt in range(1, 6):
        try:
            code, stdout, tail = run_echoing([str(binary), *arguments], timeout=timeout, cwd=REPO_ROOT)
        except OSError as error:  # ETXTBSY / ENOENT while a build replaces the file
            log(f"could not start {binary} ({error}); retrying in 30 s (attempt {attempt}/5)")
            time.sleep(30)
            continue
        rows = parse_json_array(stdout)
        replaced = code is not None and code < 0 and rows is None
        if replaced and attempt < 5:
            log(f"aligncl died with signal {-code} (the binary may have been replaced); retrying in 30 s")
            time.sleep(30)
            continue
        return rows, code, tail
    return None, None, ["could not start aligncl"]


def bench_families(binary: Path) -> list[str]:
    try:
        text = subprocess.run([str(binary), "bench", "--help"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    marker = text.find("(values:")
    if marker == -1:
        return []
    return [w.strip() for w in text[marker + len("(values:"):text.find(")", marker)].split(",") if w.strip()]


# Sizes for `aligncl bench FAMILY --sizes …` on binaries without --preset.
FALLBACK_SIZES = {
    "gemm1024": ("gemm", "1024x1024x1024"), "gemm2048": ("gemm", "2048x2048x2048"),
    "softmax": ("softmax", "4096x4096"), "attention": ("attention", "4x8x1024x64"),
    "infonce": ("infonce", "4096x256"), "layernorm": ("layernorm", "16384x1024"), "train-step": ("train-step", "64"),
}


def run_aligncl(args, cases: list[Case]) -> tuple[list[dict], dict]:
    """All of AlignCL's rows, and facts about the run (binary, version, how it was run, errors)."""
    info: dict = {}
    binary = resolve_aligncl(args)
    info["binary"] = str(binary)
    try:
        info["version"] = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                                         timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    common = ["--format", "json", "--repetitions", str(args.repetitions), "--warmup", str(args.warmup)]
    families = bench_families(binary)
    needed = list(dict.fromkeys(case.family for case in cases))
    attempts = []
    if set(needed) <= set(families) and len(needed) < len(CASE_FAMILIES):
        attempts.append(needed)  # only the families asked for (binaries whose bench takes families)
    attempts.append([])
    for chosen in attempts:
        log(f"aligncl bench {' '.join(chosen + [''])}--preset standard --format json ({binary})…")
        rows, code, tail = run_aligncl_command(binary, ["bench", *chosen, "--preset", "standard", *common],
                                               args.aligncl_timeout)
        if rows is not None:
            info["mode"] = " ".join(["bench", *chosen, "--preset standard"])
            if code not in (0, None):
                info["note"] = f"aligncl exited {code}: {last_error_line(tail)}"
            return rows, info
    # Older binary: no --preset. Run each needed family with the cases' sizes.
    log(f"--preset standard did not give JSON ({last_error_line(tail)}); running the families one by one")
    info["mode"] = "per family (this aligncl has no --preset)"
    wanted: dict[str, list[str]] = {}
    for case in cases:
        family, size = FALLBACK_SIZES[case.key]
        if family not in families:
            info.setdefault("missing", {})[case.key] = f"this aligncl has no bench family '{family}' (has: {', '.join(families)})"
            continue
        wanted.setdefault(family, []).append(size)
    all_rows: list[dict] = []
    for family, sizes in wanted.items():
        log(f"aligncl bench {family} --sizes {' '.join(sizes)}…")
        rows, code, tail = run_aligncl_command(binary, ["bench", family, "--sizes", *sizes, *common], args.aligncl_timeout)
        if rows is None:
            info.setdefault("errors", {})[family] = f"exit {code}: {last_error_line(tail)}"
            continue
        all_rows += rows
    return all_rows, info


def _variant_key(text) -> str | None:
    if text is None:
        return None
    text = str(text).lower().replace(" ", "")
    return {"forward": "fwd", "backward": "bwd", "forward+backward": "fwd+bwd"}.get(text, text)


def match_row(rows: list[dict], case: Case, backend: str) -> dict | None:
    """AlignCL's row for `case` on `backend`: by family + parameters + variant, else by name."""
    candidates = [r for r in rows if r.get("backend") == backend]
    for row in candidates:
        params = row.get("parameters")
        if row.get("family") != case.family or not isinstance(params, dict):
            continue
        if any(str(params.get(k)) != str(v) for k, v in case.params.items()):
            continue
        variant = row.get("variant", params.get("variant"))
        if case.variant is not None and variant is not None and _variant_key(variant) != _variant_key(case.variant):
            continue
        if case.variant is not None and variant is None and case.family in ("softmax", "attention", "infonce", "layernorm"):
            continue
        return row
    for row in candidates:
        if row.get("name") in case.names:
            return row
    return None


# ---------------------------------------------------------------------------------------------
# Workers: one case on one framework, inside the virtualenv.
# ---------------------------------------------------------------------------------------------

def time_runs(run, sync, warmup: int, repetitions: int) -> dict:
    for _ in range(warmup):
        run()
        sync()
    seconds = []
    for _ in range(repetitions):
        start = time.perf_counter()
        run()
        sync()
        seconds.append(time.perf_counter() - start)
    ordered = sorted(seconds)
    median = ordered[len(ordered) // 2] if len(ordered) % 2 else 0.5 * (ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2])
    return {"median_s": median, "min_s": ordered[0], "max_s": ordered[-1], "seconds": seconds}


def normwise_error(got, expected) -> float:
    import numpy as np
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if not np.all(np.isfinite(got)):
        return float("inf")
    return float(np.max(np.abs(got - expected)) / max(np.max(np.abs(expected)), 1e-30))


CHECK_TOLERANCE = 1e-3


class Inputs:
    """Seeded inputs, uniform in [-1, 1) like AlignCL's SeededValues; float64 references."""

    def __init__(self):
        import numpy as np
        self.np = np
        self.rng = np.random.default_rng(20261129)

    def uniform(self, *shape, scale=1.0):
        return (self.rng.uniform(-1.0, 1.0, size=shape) * scale).astype(self.np.float32)


def reference(case: Case, x: dict) -> dict:
    """Float64 NumPy results (outputs and gradients) for the check."""
    import numpy as np
    f = {k: np.asarray(v, dtype=np.float64) for k, v in x.items() if k not in ("ids", "images")}
    if case.family == "gemm":
        return {"c": f["a"] @ f["b"]}
    if case.family == "softmax":
        e = np.exp(f["x"] - f["x"].max(-1, keepdims=True))
        return {"y": e / e.sum(-1, keepdims=True)}
    if case.family == "attention":
        q, k, v, g = f["q"], f["k"], f["v"], f["g"]
        scale = 1.0 / math.sqrt(q.shape[-1])
        s = (q @ np.swapaxes(k, -1, -2)) * scale
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        out = p @ v
        dp = g @ np.swapaxes(v, -1, -2)
        dv = np.swapaxes(p, -1, -2) @ g
        ds = p * (dp - (g * out).sum(-1, keepdims=True))
        return {"out": out, "dq": ds @ k * scale, "dk": np.swapaxes(ds, -1, -2) @ q * scale, "dv": dv}
    if case.family == "infonce":
        a, b, scale = f["a"], f["b"], 1 / 0.07
        na = np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        nb = np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        an, bn = a / na, b / nb
        s = scale * an @ bn.T
        n = s.shape[0]

        def lse(m, axis):
            mx = m.max(axis, keepdims=True)
            return (mx + np.log(np.exp(m - mx).sum(axis, keepdims=True))).squeeze(axis)

        d = np.diag(s)
        loss = 0.5 * (np.mean(lse(s, 1) - d) + np.mean(lse(s, 0) - d))
        pr = np.exp(s - s.max(1, keepdims=True))
        pr /= pr.sum(1, keepdims=True)
        pc = np.exp(s - s.max(0, keepdims=True))
        pc /= pc.sum(0, keepdims=True)
        ds = 0.5 * (pr - np.eye(n)) / n + 0.5 * (pc - np.eye(n)) / n
        dan, dbn = scale * ds @ bn, scale * ds.T @ an
        da = (dan - an * (dan * an).sum(1, keepdims=True)) / na
        db = (dbn - bn * (dbn * bn).sum(1, keepdims=True)) / nb
        return {"loss": np.array([loss]), "da": da, "db": db}
    if case.family == "layernorm":
        x, w, b, g = f["x"], f["w"], f["b"], f["g"]
        mean = x.mean(-1, keepdims=True)
        rstd = 1 / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + 1e-5)
        xhat = (x - mean) * rstd
        dxhat = g * w
        dx = (dxhat - dxhat.mean(-1, keepdims=True) - xhat * (dxhat * xhat).mean(-1, keepdims=True)) * rstd
        return {"y": xhat * w + b, "dx": dx, "dw": (g * xhat).sum(0), "db": g.sum(0)}
    return {}


def make_inputs(case: Case) -> dict:
    gen = Inputs()
    if case.family == "gemm":
        n = case.params["m"]
        return {"a": gen.uniform(n, n), "b": gen.uniform(n, n)}
    if case.family == "softmax":
        return {"x": gen.uniform(case.params["rows"], case.params["columns"], scale=10.0)}
    if case.family == "attention":
        shape = (ATT["batch"], ATT["heads"], ATT["length"], ATT["dimension"])
        return {k: gen.uniform(*shape) for k in ("q", "k", "v", "g")}
    if case.family == "infonce":
        return {"a": gen.uniform(NCE["rows"], NCE["dimension"]), "b": gen.uniform(NCE["rows"], NCE["dimension"])}
    if case.family == "layernorm":
        return {"x": gen.uniform(LN["rows"], LN["columns"]), "w": gen.uniform(LN["columns"]),
                "b": gen.uniform(LN["columns"]), "g": gen.uniform(LN["rows"], LN["columns"])}
    if case.family == "train-step":
        np = gen.np
        return {"ids": gen.rng.integers(0, CLIP["vocabulary"], size=(TRAIN_BATCH, CLIP["tokens"])).astype(np.int32),
                "images": gen.uniform(TRAIN_BATCH, 3, CLIP["image"], CLIP["image"])}
    raise ValueError(case.key)


def check_outputs(case: Case, inputs: dict, got: dict) -> float:
    expected = reference(case, inputs)
    return max((normwise_error(got[k], expected[k]) for k in expected), default=0.0)


# The CLIP-style model of the training-step case.
CLIP = dict(width=256, heads=4, hidden=512, layers=4, tokens=32, vocabulary=1000, image=32, patch=4, projection=256,
            lr=1e-4, weight_decay=0.01, initial_log_scale=math.log(1 / 0.07), max_log_scale=math.log(100.0))


def patchify(images):
    """[B, 3, 32, 32] → [B, 64, 48] (channel-major 3·4·4 features per patch, row-major patches)."""
    b, p, g = images.shape[0], CLIP["patch"], CLIP["image"] // CLIP["patch"]
    x = images.reshape(b, 3, g, p, g, p)
    x = x.permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, g * g, 3 * p * p)


# --- PyTorch -----------------------------------------------------------------------------------

def torch_worker(case: Case, warmup: int, repetitions: int) -> dict:
    import numpy as np
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(2)
    facts = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    x = make_inputs(case)
    t = {k: torch.from_numpy(v) for k, v in x.items()}
    notes = []
    if case.family == "gemm":
        c = torch.empty(case.params["m"], case.params["n"])

        def run():
            torch.matmul(t["a"], t["b"], out=c)
            return {"c": c}
    elif case.family == "softmax":
        y = torch.empty_like(t["x"])
        ref = torch.softmax(t["x"], -1)
        attempts = [
            ("torch._softmax(x, -1, False, out=y)", lambda: torch._softmax(t["x"], -1, False, out=y)),
            ("torch.ops.aten._softmax.out(x, -1, False, out=y)", lambda: torch.ops.aten._softmax.out(t["x"], -1, False, out=y)),
            ("torch.softmax(x, -1, out=y)", lambda: torch.softmax(t["x"], -1, out=y)),
        ]
        chosen = None
        for label, attempt in attempts:
            try:
                y.zero_()
                attempt()
                if torch.allclose(y, ref, rtol=1e-5, atol=1e-7):
                    chosen = (label, attempt)
                    break
                notes.append(f"{label}: wrong result")
            except Exception as error:  # noqa: BLE001 - any failure means: try the next form
                notes.append(f"{label}: {type(error).__name__}")
        if chosen is None:
            notes.append("no preallocated form worked: timing torch.softmax(x, -1), which allocates")
            facts["softmax_form"] = "torch.softmax(x, -1) (allocating)"

            def run():
                return {"y": torch.softmax(t["x"], -1)}
        else:
            facts["softmax_form"] = chosen[0]
            # The allocating form too, for the JSON.
            allocating = time_runs(lambda: torch.softmax(t["x"], -1), lambda: None, warmup, repetitions)
            facts["allocating_median_s"] = allocating["median_s"]

            def run(form=chosen[1]):
                form()
                return {"y": y}
    elif case.family == "attention":
        q, k, v = (t[n].clone().requires_grad_(True) for n in ("q", "k", "v"))

        def run():
            out = F.scaled_dot_product_attention(q, k, v)
            dq, dk, dv = torch.autograd.grad(out, (q, k, v), t["g"])
            return {"out": out, "dq": dq, "dk": dk, "dv": dv}
    elif case.family == "infonce":
        a, b = (t[n].clone().requires_grad_(True) for n in ("a", "b"))
        labels = torch.arange(NCE["rows"])

        def run():
            s = (1 / 0.07) * F.normalize(a, dim=1) @ F.normalize(b, dim=1).T
            loss = 0.5 * (F.cross_entropy(s, labels) + F.cross_entropy(s.T, labels))
            da, db = torch.autograd.grad(loss, (a, b))
            return {"loss": loss.detach().reshape(1), "da": da, "db": db}
    elif case.family == "layernorm":
        xx, w, b = (t[n].clone().requires_grad_(True) for n in ("x", "w", "b"))

        def run():
            y = F.layer_norm(xx, (LN["columns"],), w, b, 1e-5)
            dx, dw, db = torch.autograd.grad(y, (xx, w, b), t["g"])
            return {"y": y, "dx": dx, "dw": dw, "db": db}
    elif case.family == "train-step":
        torch.manual_seed(0)
        model = torch_clip(torch)
        optimizer = torch.optim.AdamW(model.parameters(), lr=CLIP["lr"], weight_decay=CLIP["weight_decay"])
        ids, images = t["ids"].long(), t["images"]
        facts["parameters"] = sum(p.numel() for p in model.parameters())

        def run():
            optimizer.zero_grad(set_to_none=True)
            loss = model(ids, images)
            loss.backward()
            optimizer.step()
            return {"loss": loss.detach().reshape(1)}
    else:
        raise ValueError(case.key)

    first = {k: v.detach().numpy() for k, v in run().items()}
    result = dict(facts)
    if notes:
        result["notes"] = notes
    if case.family == "train-step":
        if not np.all(np.isfinite(first["loss"])):
            return {**result, "error": f"non-finite loss {first['loss']}"}
        result["first_loss"] = float(first["loss"][0])
    else:
        error = check_outputs(case, x, first)
        result["check_error"] = error
        if not error <= CHECK_TOLERANCE:
            return {**result, "error": f"check failed: max-abs error / max-abs value {error:.3g} > {CHECK_TOLERANCE:g}"}
    log(f"torch {case.key}: checked; timing {warmup} warm-up + {repetitions} runs")
    result.update(time_runs(run, lambda: None, warmup, repetitions))
    return result


def torch_clip(torch):
    nn, F = torch.nn, torch.nn.functional
    c = CLIP

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            w = c["width"]
            self.norm1, self.norm2 = nn.LayerNorm(w, eps=1e-5), nn.LayerNorm(w, eps=1e-5)
            self.q, self.k, self.v, self.o = (nn.Linear(w, w) for _ in range(4))
            self.fc1, self.fc2 = nn.Linear(w, c["hidden"]), nn.Linear(c["hidden"], w)

        def forward(self, x):
            b, length, w = x.shape
            h = self.norm1(x)

            def split(y):
                return y.view(b, length, c["heads"], w // c["heads"]).transpose(1, 2)

            a = F.scaled_dot_product_attention(split(self.q(h)), split(self.k(h)), split(self.v(h)))
            x = x + self.o(a.transpose(1, 2).reshape(b, length, w))
            return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))

    class Tower(nn.Module):
        def __init__(self, positions):
            super().__init__()
            self.positions = nn.Parameter(torch.randn(positions, c["width"]) * 0.02)
            self.blocks = nn.ModuleList(Block() for _ in range(c["layers"]))
            self.norm = nn.LayerNorm(c["width"], eps=1e-5)
            self.projection = nn.Linear(c["width"], c["projection"])

        def encode(self, x):
            x = x + self.positions
            for block in self.blocks:
                x = block(x)
            return self.projection(self.norm(x)[:, 0])

    class Text(Tower):
        def __init__(self):
            super().__init__(c["tokens"])
            self.tokens = nn.Embedding(c["vocabulary"], c["width"])

        def forward(self, ids):
            return self.encode(self.tokens(ids))

    class Vision(Tower):
        def __init__(self):
            super().__init__((c["image"] // c["patch"]) ** 2 + 1)
            self.patch = nn.Linear(3 * c["patch"] ** 2, c["width"])
            self.cls = nn.Parameter(torch.randn(1, 1, c["width"]) * 0.02)

        def forward(self, images):
            x = self.patch(patchify(images))
            return self.encode(torch.cat([self.cls.expand(x.shape[0], 1, -1), x], dim=1))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.text, self.vision = Text(), Vision()
            self.log_scale = nn.Parameter(torch.tensor(c["initial_log_scale"]))

        def forward(self, ids, images):
            t = F.normalize(self.text(ids), dim=-1)
            v = F.normalize(self.vision(images), dim=-1)
            logits = self.log_scale.clamp(max=c["max_log_scale"]).exp() * v @ t.T
            labels = torch.arange(logits.shape[0])
            return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))

    return Model()


# --- tinygrad ----------------------------------------------------------------------------------

def tinygrad_open(device: str) -> dict:
    """Selects tinygrad's OpenCL backend (`DEV=CL` from tinygrad 0.11 on; older: CL=1/GPU=1) and opens it."""
    os.environ["DEV"] = device
    import tinygrad
    from tinygrad import Device
    try:
        chosen = Device.DEFAULT
    except Exception:  # noqa: BLE001 - older tinygrad: no DEV variable
        chosen = None
    if chosen is None or chosen.split(":")[0] not in ("CL", "GPU"):
        for name in (device, device.replace("CL", "GPU")):
            try:
                Device.DEFAULT = name  # tinygrad < 0.11
                chosen = name
                break
            except Exception:  # noqa: BLE001
                continue
    dev = Device[chosen]  # raises with the OpenCL error when the device cannot be opened
    return {"tinygrad": getattr(tinygrad, "__version__", None) or _dist_version("tinygrad"), "device": chosen,
            "device_name": getattr(dev, "device_name", None), "driver_version": getattr(dev, "driver_version", None)}


def _dist_version(name: str):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # noqa: BLE001
        return None


def tinygrad_worker(case: Case, warmup: int, repetitions: int, device: str, jit: bool) -> dict:
    import numpy as np
    facts = tinygrad_open(device)
    from tinygrad import Tensor, TinyJit, Device, nn
    try:
        from tinygrad import Context
    except ImportError:
        from tinygrad.helpers import Context
    dev = Device[facts["device"]]
    facts["jit"] = jit
    x = make_inputs(case)
    t = {k: Tensor(v, device=facts["device"]).realize() for k, v in x.items()}
    dev.synchronize()

    def grads(loss, *targets):
        if hasattr(loss, "gradient"):
            return loss.gradient(*targets)
        loss.backward()
        return [target.grad for target in targets]

    if case.family == "gemm":
        def body(a, b):
            c = (a @ b).realize()
            return c
        args, names = (t["a"], t["b"]), ("c",)
    elif case.family == "softmax":
        def body(xx):
            return xx.softmax(-1).realize()
        args, names = (t["x"],), ("y",)
    elif case.family == "attention":
        def body(q, k, v, g):
            out = q.scaled_dot_product_attention(k, v)
            dq, dk, dv = grads((out * g).sum(), q, k, v)
            Tensor.realize(out, dq, dk, dv)
            return out, dq, dk, dv
        args, names = (t["q"], t["k"], t["v"], t["g"]), ("out", "dq", "dk", "dv")
    elif case.family == "infonce":
        scale = 1 / 0.07

        def body(a, b):
            an = a / (a * a).sum(1, keepdim=True).sqrt().maximum(1e-12)
            bn = b / (b * b).sum(1, keepdim=True).sqrt().maximum(1e-12)
            s = (an @ bn.T) * scale
            diagonal = (an * bn).sum(1) * scale
            loss = 0.5 * ((s.logsumexp(1) - diagonal).mean() + (s.logsumexp(0) - diagonal).mean())
            da, db = grads(loss, a, b)
            Tensor.realize(loss, da, db)
            return loss, da, db
        args, names = (t["a"], t["b"]), ("loss", "da", "db")
    elif case.family == "layernorm":
        def body(xx, w, b, g):
            y = xx.layernorm(axis=-1, eps=1e-5) * w + b
            dx, dw, db = grads((y * g).sum(), xx, w, b)
            Tensor.realize(y, dx, dw, db)
            return y, dx, dw, db
        args, names = (t["x"], t["w"], t["b"], t["g"]), ("y", "dx", "dw", "db")
    elif case.family == "train-step":
        Tensor.manual_seed(0)
        model = tinygrad_clip(Tensor, nn)
        params = nn.state.get_parameters(model)
        optimizer = nn.optim.AdamW(params, lr=CLIP["lr"], weight_decay=CLIP["weight_decay"])
        facts["parameters"] = int(sum(p.numel() for p in params))
        ids = t["ids"]

        def body(ids, images):
            with Context(TRAINING=1):
                optimizer.zero_grad()
                loss = model(ids, images)
                loss.backward()
                Tensor.realize(loss, *optimizer.schedule_step())
            return loss
        args, names = (ids, t["images"]), ("loss",)
    else:
        raise ValueError(case.key)

    step = TinyJit(body) if jit else body
    outputs = []

    def run():
        result = step(*args)
        outputs[:] = list(result) if isinstance(result, tuple) else [result]

    # First call: plain execution (the JIT captures on the second); its result is checked.
    started = time.perf_counter()
    run()
    dev.synchronize()
    log(f"tinygrad {case.key}: first run (kernel compilation) took {time.perf_counter() - started:.1f} s")
    first = {name: out.numpy().reshape(-1) if name == "loss" else out.numpy() for name, out in zip(names, outputs)}
    result = dict(facts)
    if case.family == "train-step":
        if not np.all(np.isfinite(first["loss"])):
            return {**result, "error": f"non-finite loss {first['loss']}"}
        result["first_loss"] = float(first["loss"][0])
    else:
        error = check_outputs(case, x, first)
        result["check_error"] = error
        if not error <= CHECK_TOLERANCE:
            return {**result, "error": f"check failed: max-abs error / max-abs value {error:.3g} > {CHECK_TOLERANCE:g}"}
    effective_warmup = max(warmup, 2) if jit else warmup  # call 2 captures, calls 3+ replay
    log(f"tinygrad {case.key}: checked; timing {effective_warmup} warm-up + {repetitions} runs")
    result.update(time_runs(run, dev.synchronize, effective_warmup, repetitions))
    return result


def tinygrad_clip(Tensor, nn):
    c = CLIP

    class Block:
        def __init__(self):
            w = c["width"]
            self.norm1, self.norm2 = nn.LayerNorm(w, eps=1e-5), nn.LayerNorm(w, eps=1e-5)
            self.q, self.k, self.v, self.o = (nn.Linear(w, w) for _ in range(4))
            self.fc1, self.fc2 = nn.Linear(w, c["hidden"]), nn.Linear(c["hidden"], w)

        def __call__(self, x):
            b, length, w = x.shape
            h = self.norm1(x)

            def split(y):
                return y.reshape(b, length, c["heads"], w // c["heads"]).transpose(1, 2)

            a = split(self.q(h)).scaled_dot_product_attention(split(self.k(h)), split(self.v(h)))
            x = x + self.o(a.transpose(1, 2).reshape(b, length, w))
            return x + self.fc2(self.fc1(self.norm2(x)).gelu(approximate="none"))

    class Tower:
        def __init__(self, positions):
            self.positions = Tensor.randn(positions, c["width"]) * 0.02
            self.blocks = [Block() for _ in range(c["layers"])]
            self.norm = nn.LayerNorm(c["width"], eps=1e-5)
            self.projection = nn.Linear(c["width"], c["projection"])

        def encode(self, x):
            x = x + self.positions
            for block in self.blocks:
                x = block(x)
            return self.projection(self.norm(x)[:, 0])

    class Text(Tower):
        def __init__(self):
            super().__init__(c["tokens"])
            self.tokens = nn.Embedding(c["vocabulary"], c["width"])

        def __call__(self, ids):
            return self.encode(self.tokens(ids))

    class Vision(Tower):
        def __init__(self):
            super().__init__((c["image"] // c["patch"]) ** 2 + 1)
            self.patch = nn.Linear(3 * c["patch"] ** 2, c["width"])
            self.cls = Tensor.randn(1, 1, c["width"]) * 0.02

        def __call__(self, images):
            x = self.patch(patchify(images))
            return self.encode(self.cls.expand(x.shape[0], 1, c["width"]).cat(x, dim=1))

    def normalize(v):
        return v / (v * v).sum(-1, keepdim=True).sqrt().maximum(1e-12)

    class Model:
        def __init__(self):
            self.text, self.vision = Text(), Vision()
            self.log_scale = Tensor([c["initial_log_scale"]])
            # Realize the initial weights (scaled randn etc. are lazy until then).
            Tensor.realize(*nn.state.get_parameters(self))

        def __call__(self, ids, images):
            t = normalize(self.text(ids))
            v = normalize(self.vision(images))
            logits = (v @ t.T) * self.log_scale.minimum(c["max_log_scale"]).exp()
            labels = Tensor.arange(logits.shape[0])
            return 0.5 * (logits.sparse_categorical_crossentropy(labels) + logits.T.sparse_categorical_crossentropy(labels))

    return Model()


OPENCL_HINTS = {
    -1001: "CL_PLATFORM_NOT_FOUND_KHR: the OpenCL ICD loader found no platform; install a driver, e.g. pocl-opencl-icd",
    -1: "CL_DEVICE_NOT_FOUND: the first OpenCL platform has no usable device",
    -4: "CL_MEM_OBJECT_ALLOCATION_FAILURE: the device ran out of memory",
    -5: "CL_OUT_OF_RESOURCES",
    -6: "CL_OUT_OF_HOST_MEMORY",
}


def worker_main(args) -> int:
    case = CASE_BY_KEY[args.case]
    try:
        if args.worker == "torch":
            result = torch_worker(case, args.warmup, args.repetitions)
        else:
            result = tinygrad_worker(case, args.warmup, args.repetitions, args.tinygrad_device, not args.no_tinygrad_jit)
    except Exception as error:  # noqa: BLE001 - reported in the case's cell
        import traceback
        traceback.print_exc()
        message = " ".join(str(error).split())
        result = {"error": f"{type(error).__name__}: {message[:400]}"}
        for code, meaning in OPENCL_HINTS.items():
            if re.search(rf"OpenCL Error {code}\b", message):
                result["error"] += f" ({meaning})"
    Path(args.result_file).write_text(json.dumps(result))
    return 0


# ---------------------------------------------------------------------------------------------
# The table.
# ---------------------------------------------------------------------------------------------

def fmt_ms(seconds: float) -> str:
    ms = seconds * 1e3
    if ms >= 1000:
        return f"{ms:,.0f} ms"
    if ms >= 100:
        return f"{ms:.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def fmt_rate(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


COLUMNS = [("aligncl_opencl", "AlignCL OpenCL"), ("aligncl_cpu", "AlignCL CPU"),
           ("torch_cpu", "PyTorch CPU"), ("tinygrad_opencl", "tinygrad OpenCL")]


def render_table(entries: list[dict], footnotes: list[str]) -> str:
    header = ["case", "unit"] + [title for _, title in COLUMNS] + ["AlignCL-CL vs PyTorch", "AlignCL-CL vs tinygrad"]
    rows = []
    for entry in entries:
        row = [entry["label"], entry["unit"]]
        for key, title in COLUMNS:
            cell = entry.get(key)
            if cell is None:
                row.append("skipped")
            elif cell.get("median_s") is not None:
                row.append(f"{fmt_ms(cell['median_s'])} ({fmt_rate(cell['throughput'])})")
            else:
                footnotes.append(f"{entry['label']}, {title}: {cell.get('error', 'no result')}")
                row.append(f"n/a [{len(footnotes)}]")
        for peer in ("torch_cpu", "tinygrad_opencl"):
            ratio = entry.get("ratios", {}).get(peer)
            row.append(f"{ratio:.2f}x" if ratio is not None else "")
        rows.append(row)
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i]) for i, cell in enumerate(r)).rstrip()
             for r in [header] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def build_entries(cases, aligncl_rows, aligncl_info, peers) -> list[dict]:
    entries = []
    for case in cases:
        entry = {"case": case.key, "label": case.label, "family": case.family, "parameters": case.params,
                 "variant": case.variant, "unit": case.unit, "work": case.work}
        work, work_source = case.work, "this script"
        for backend, key in (("opencl", "aligncl_opencl"), ("cpu", "aligncl_cpu")):
            if aligncl_info.get("skipped"):
                entry[key] = None
                continue
            if aligncl_rows is None:
                entry[key] = {"error": aligncl_info.get("error", "aligncl did not run")}
                continue
            row = match_row(aligncl_rows, case, backend)
            if row is None:
                reason = (aligncl_info.get("missing", {}).get(case.key)
                          or next(iter(aligncl_info.get("errors", {}).values()), None)
                          or f"no {backend} row for this case in aligncl's JSON")
                entry[key] = {"error": reason}
                continue
            cell = {"name": row.get("name"), "median_s": row.get("medianSeconds"), "min_s": row.get("minSeconds"),
                    "max_s": row.get("maxSeconds"), "throughput": row.get("throughput"), "unit": row.get("unit")}
            if row.get("failure"):
                cell = {"name": row.get("name"), "error": f"failed its check: {row['failure']}"}
            elif cell["median_s"] is None:
                cell["error"] = "no timing in aligncl's JSON"
            entry[key] = cell
            # AlignCL's own work count (throughput × time), so the peers' throughput is comparable.
            if (backend == "opencl" and cell.get("median_s") and cell.get("throughput")
                    and (cell.get("unit") or case.unit) == case.unit):
                theirs = cell["throughput"] * cell["median_s"] / case.scale
                if abs(theirs - case.work) > 0.01 * case.work:
                    log(f"{case.key}: AlignCL counts {theirs:.4g} per run, this script {case.work:.4g}: using AlignCL's")
                    work, work_source = theirs, "aligncl"
        entry["work"], entry["work_source"] = work, work_source
        for peer in ("torch_cpu", "tinygrad_opencl"):
            if peer in peers.get(case.key, {}):
                cell = dict(peers[case.key][peer])
                if cell.get("median_s"):
                    cell["throughput"] = work / cell["median_s"] * case.scale
                entry[peer] = cell
        # Throughput recomputed for AlignCL's cells when its unit is missing.
        for key in ("aligncl_opencl", "aligncl_cpu"):
            cell = entry.get(key) or {}
            if cell.get("median_s") and cell.get("throughput") is None:
                cell["throughput"] = work / cell["median_s"] * case.scale
        base = (entry.get("aligncl_opencl") or {}).get("median_s")
        entry["ratios"] = {}
        for peer in ("torch_cpu", "tinygrad_opencl"):
            other = (entry.get(peer) or {}).get("median_s")
            if base and other:
                entry["ratios"][peer] = other / base
        entries.append(entry)
    return entries


# ---------------------------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Time AlignCL's benchmark cases against PyTorch (CPU, 2 threads) and tinygrad (OpenCL) "
                    "and print one table.",
        epilog="Cases: " + ", ".join(c.key for c in CASES) + " (or a family: gemm). Ratios are the peer's median "
               "time over AlignCL-OpenCL's: above 1 means AlignCL on OpenCL is faster.")
    parser.add_argument("--cases", help="comma-separated cases or families (default: all)")
    parser.add_argument("--repetitions", type=int, default=10, help="timed runs per case (default 10, median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first (default 2; tinygrad's JIT needs 2)")
    parser.add_argument("--skip-torch", action="store_true", help="don't run PyTorch (and don't install it)")
    parser.add_argument("--skip-tinygrad", action="store_true", help="don't run tinygrad")
    parser.add_argument("--skip-aligncl", action="store_true", help="don't run aligncl (peers only)")
    parser.add_argument("--aligncl", metavar="PATH",
                        help=f"the aligncl binary (default: {DEFAULT_ALIGNCL} in the repository, built if missing)")
    parser.add_argument("--json", metavar="OUT", help="save every number (and the raw aligncl rows) to OUT")
    parser.add_argument("--venv", metavar="DIR", default=str(DEFAULT_VENV),
                        help="the virtualenv for torch/tinygrad/numpy (default: %(default)s)")
    parser.add_argument("--torch-spec", default="torch",
                        help="what pip installs for PyTorch (default: torch from PyPI; e.g. a local CPU-only wheel)")
    parser.add_argument("--tinygrad-device", default="CL", help="tinygrad device (default CL: its OpenCL backend; CL:1 …)")
    parser.add_argument("--no-tinygrad-jit", action="store_true", help="run tinygrad eagerly instead of through TinyJit")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per peer case before giving up (default 1800)")
    parser.add_argument("--aligncl-timeout", type=float, default=3600, help="seconds for an aligncl run (default 3600)")
    # Internal: one case in a worker process.
    parser.add_argument("--worker", choices=["torch", "tinygrad"], help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repetitions < 1 or args.warmup < 0:
        parser.error("--repetitions must be ≥ 1 and --warmup ≥ 0")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker_main(args)
    cases = select_cases(args.cases)
    started = time.time()
    frameworks = [f for f, skip in (("torch", args.skip_torch), ("tinygrad", args.skip_tinygrad)) if not skip]
    python = None
    if frameworks:
        python = ensure_venv(Path(args.venv).expanduser().absolute(), ["numpy", *frameworks],
                             {"torch": args.torch_spec})

    peers: dict[str, dict] = {}
    aligncl_rows, aligncl_info = None, {"skipped": True}
    interrupted = False
    try:
        for framework in frameworks:
            column = "torch_cpu" if framework == "torch" else "tinygrad_opencl"
            for case in cases:
                log(f"{framework} {case.key}…")
                result = run_peer_case(python, framework, case, args)
                peers.setdefault(case.key, {})[column] = result
                if result.get("median_s"):
                    log(f"{framework} {case.key}: median {fmt_ms(result['median_s'])} ({result['wall_seconds']} s in all)")
                else:
                    log(f"{framework} {case.key}: {result.get('error')}")
        if not args.skip_aligncl:
            try:
                aligncl_rows, aligncl_info = run_aligncl(args, cases)
            except RuntimeError as error:
                aligncl_rows, aligncl_info = None, {"error": str(error)}
                log(f"aligncl: {error}")
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: printing what was measured")

    entries = build_entries(cases, aligncl_rows, aligncl_info, peers)
    footnotes: list[str] = []
    table = render_table(entries, footnotes)
    facts = {}
    for peer in peers.values():
        for column, result in peer.items():
            for key in ("torch", "threads", "tinygrad", "device", "device_name", "jit", "softmax_form"):
                if key in result:
                    facts.setdefault(column, {})[key] = result[key]
    print(f"AlignCL vs peers: median of {args.repetitions} runs after {args.warmup} warm-up; "
          f"time in ms (throughput in the unit shown).")
    print(table)
    print("Ratios: peer median time / AlignCL-OpenCL median time (above 1: AlignCL on OpenCL is faster).")
    described = []
    if "torch_cpu" in facts:
        f = facts["torch_cpu"]
        described.append(f"PyTorch {f.get('torch')} on the CPU with {f.get('threads')} threads"
                         + (f"; softmax timed as {f['softmax_form']}" if f.get("softmax_form") else ""))
    if "tinygrad_opencl" in facts:
        f = facts["tinygrad_opencl"]
        described.append(f"tinygrad {f.get('tinygrad')} on {f.get('device')} ({f.get('device_name')})"
                         + (", TinyJit" if f.get("jit") else ", eager"))
    if aligncl_rows is not None:
        described.append(f"aligncl {aligncl_info.get('version', '')} ({aligncl_info.get('mode')})".replace("  ", " "))
    for line in described:
        print("  " + line)
    for number, note in enumerate(footnotes, 1):
        print(f"  [{number}] {note}")
    if aligncl_info.get("note"):
        print(f"  aligncl: {aligncl_info['note']}")

    if args.json:
        document = {
            "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
            "settings": {"repetitions": args.repetitions, "warmup": args.warmup, "cases": [c.key for c in cases],
                         "tinygrad_device": args.tinygrad_device, "tinygrad_jit": not args.no_tinygrad_jit},
            "peers": facts, "aligncl": aligncl_info, "cases": entries, "aligncl_rows": aligncl_rows,
            "interrupted": interrupted, "seconds": round(time.time() - started, 1),
        }
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
        log(f"saved {args.json}")
    log(f"done in {time.time() - started:.0f} s")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
