"""AlignCL: `aligncl bench --preset standard --format json` for the standard cases and `aligncl bench
FAMILY --sizes …` for the others (gemm4096), or per family on older binaries; and matching its JSON
rows to the cases."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from cases import CASE_FAMILIES, Case
from common import DEFAULT_ALIGNCL, REPO_ROOT, last_error_line, log, run_echoing


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


# Sizes for `aligncl bench FAMILY --sizes …`: the cases outside the standard preset, and every
# case on binaries without --preset.
CASE_SIZES = {
    "gemm1024": ("gemm", "1024x1024x1024"), "gemm2048": ("gemm", "2048x2048x2048"),
    "gemm4096": ("gemm", "4096x4096x4096"),
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
    standard = [case for case in cases if case.standard]
    others = [case for case in cases if not case.standard]
    modes: list[str] = []
    rows: list[dict] = []
    if standard:
        needed = list(dict.fromkeys(case.family for case in standard))
        attempts = []
        if set(needed) <= set(families) and len(needed) < len(CASE_FAMILIES):
            attempts.append(needed)  # only the families asked for (binaries whose bench takes families)
        attempts.append([])
        preset_rows = None
        for chosen in attempts:
            log(f"aligncl bench {' '.join(chosen + [''])}--preset standard --format json ({binary})…")
            preset_rows, code, tail = run_aligncl_command(binary, ["bench", *chosen, "--preset", "standard", *common],
                                                          args.aligncl_timeout)
            if preset_rows is not None:
                modes.append(" ".join(["bench", *chosen, "--preset standard"]))
                if code not in (0, None):
                    info["note"] = f"aligncl exited {code}: {last_error_line(tail)}"
                break
        if preset_rows is None:
            # Older binary: no --preset. Run each needed family with the cases' sizes.
            log(f"--preset standard did not give JSON ({last_error_line(tail)}); running the families one by one")
            info["mode"] = "per family (this aligncl has no --preset)"
            return run_sizes(binary, families, cases, common, args, info)[0], info
        rows += preset_rows
    if others:
        sized_rows, commands = run_sizes(binary, families, others, common, args, info)
        rows += sized_rows
        modes += commands
    info["mode"] = "; ".join(modes)
    return rows, info


def run_sizes(binary: Path, families: list[str], cases: list[Case], common: list[str], args,
              info: dict) -> tuple[list[dict], list[str]]:
    """`aligncl bench FAMILY --sizes …` once per family of `cases`: the rows and the commands that
    gave them. What cannot run goes into info["missing"] (per case) or info["errors"] (per family)."""
    wanted: dict[str, list[str]] = {}
    for case in cases:
        family, size = CASE_SIZES[case.key]
        if family not in families:
            info.setdefault("missing", {})[case.key] = f"this aligncl has no bench family '{family}' (has: {', '.join(families)})"
            continue
        wanted.setdefault(family, []).append(size)
    all_rows: list[dict] = []
    commands: list[str] = []
    for family, sizes in wanted.items():
        log(f"aligncl bench {family} --sizes {' '.join(sizes)}…")
        rows, code, tail = run_aligncl_command(binary, ["bench", family, "--sizes", *sizes, *common], args.aligncl_timeout)
        if rows is None:
            info.setdefault("errors", {})[family] = f"exit {code}: {last_error_line(tail)}"
            continue
        all_rows += rows
        commands.append(f"bench {family} --sizes {' '.join(sizes)}")
    return all_rows, commands


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
