#!/usr/bin/env python3
"""Compare `aligncl bench` with PyTorch (CPU path, or CUDA) and tinygrad (OpenCL) on the same cases.

    python3 Benchmarks/peers/compare.py                      # everything, installs the peers once
    python3 Benchmarks/peers/compare.py --cases gemm,softmax --repetitions 5 --json out.json
    python3 Benchmarks/peers/compare.py --torch-device cuda --cases gemm4096,attention   # PyTorch on a GPU, FP32
    python3 Benchmarks/peers/compare.py --help

The script runs under any Python 3.8+ with only the standard library. PyTorch, tinygrad and
NumPy live in a virtualenv (default Benchmarks/peers/.venv) that the script creates and fills
from PyPI on first use, after checking the free disk space. Each case of each peer runs in a
worker process of its own (this same file, run by the virtualenv's Python with --worker), so a
crash or a hang in one case is reported in its cell and the rest go on. Progress goes to stderr,
the table to stdout.

The parts, next to this file: cases.py (the cases), install.py (the virtualenv), worker.py (the
worker processes), cases_torch.py and cases_tinygrad.py (each peer's cases, with the model of the
training step in clip_model.py), reference.py (the float64 NumPy check), measure.py (the timing),
aligncl_runner.py (aligncl bench and its rows) and table.py (the table).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

from aligncl_runner import run_aligncl
from cases import CASES, select_cases
from common import DEFAULT_ALIGNCL, DEFAULT_VENV, log
from install import ensure_venv
from table import build_entries, fmt_ms, peer_columns, render_table
from worker import run_peer_case, worker_main


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Time AlignCL's benchmark cases against PyTorch (CPU with 2 threads, or CUDA) and tinygrad "
                    "(OpenCL) and print one table.",
        epilog="Cases: " + ", ".join(c.key for c in CASES if c.standard) + " (or a family: gemm); only when named: "
               + ", ".join(c.key for c in CASES if not c.standard) + ". Ratios are the peer's median "
               "time over AlignCL-OpenCL's: above 1 means AlignCL on OpenCL is faster.")
    parser.add_argument("--cases", help="comma-separated cases or families (default: all but gemm4096)")
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
    parser.add_argument("--torch-device", choices=["cpu", "cuda"], default="cpu",
                        help="where PyTorch runs: cpu (2 threads; the default) or cuda (the first GPU, FP32 with "
                             "TF32 off; fails if PyTorch finds no CUDA)")
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
    columns = peer_columns(args.torch_device)
    unavailable: dict[str, str] = {}  # framework → why it can run no case here
    aligncl_rows, aligncl_info = None, {"skipped": True}
    interrupted = False
    try:
        for framework in frameworks:
            column = columns[framework][0]
            for case in cases:
                if framework in unavailable:  # each further worker would only fail the same way
                    peers.setdefault(case.key, {})[column] = {"error": unavailable[framework], "unavailable": True}
                    continue
                log(f"{framework} {case.key}…")
                result = run_peer_case(python, framework, case, args)
                peers.setdefault(case.key, {})[column] = result
                if result.get("unavailable"):
                    unavailable[framework] = result["error"]
                    log(f"{framework}: {result['error']}; not running its other cases")
                elif result.get("median_s"):
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

    entries = build_entries(cases, aligncl_rows, aligncl_info, peers, args.torch_device)
    footnotes: list[str] = []
    table = render_table(entries, footnotes, args.torch_device)
    facts = {}
    for peer in peers.values():
        for column, result in peer.items():
            for key in ("torch", "threads", "tinygrad", "device", "device_name", "jit", "softmax_form",
                        "cuda", "tf32", "float32_matmul_precision", "sdpa_backend"):
                if key in result:
                    facts.setdefault(column, {})[key] = result[key]
    print(f"AlignCL vs peers: median of {args.repetitions} runs after {args.warmup} warm-up; "
          f"time in ms (throughput in the unit shown).")
    print(table)
    print("Ratios: peer median time / AlignCL-OpenCL median time (above 1: AlignCL on OpenCL is faster).")
    described = []
    torch_column = columns["torch"][0]
    if torch_column in facts:
        f = facts[torch_column]
        if args.torch_device == "cuda":
            where = f"on CUDA ({f.get('device_name')}, TF32 {'on' if f.get('tf32') else 'off'})"
        else:
            where = f"on the CPU with {f.get('threads')} threads"
        described.append(f"PyTorch {f.get('torch')} {where}"
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
                         "torch_device": args.torch_device, "tinygrad_device": args.tinygrad_device,
                         "tinygrad_jit": not args.no_tinygrad_jit},
            "peers": facts, "aligncl": aligncl_info, "cases": entries, "aligncl_rows": aligncl_rows,
            "interrupted": interrupted, "seconds": round(time.time() - started, 1),
        }
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
        log(f"saved {args.json}")
    log(f"done in {time.time() - started:.0f} s")
    for framework, error in unavailable.items():
        log(f"{framework} did not run: {error}")
    if interrupted:
        return 130
    return 1 if unavailable else 0


if __name__ == "__main__":
    sys.exit(main())
