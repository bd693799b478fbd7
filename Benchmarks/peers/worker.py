"""Workers: each case of each peer runs in a process of its own (compare.py again, run by the
virtualenv's Python with --worker), so a crash or a hang is reported in its cell and the rest go on."""
from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from cases import CASE_BY_KEY, Case
from common import SCRIPT, PeerUnavailable, last_error_line, run_echoing


def run_peer_case(python: Path, framework: str, case: Case, args) -> dict:
    with tempfile.TemporaryDirectory(prefix="aligncl-peers-") as scratch:
        result_file = Path(scratch) / "result.json"
        command = [str(python), str(SCRIPT), "--worker", framework, "--case", case.key,
                   "--repetitions", str(args.repetitions), "--warmup", str(args.warmup),
                   "--result-file", str(result_file)]
        if framework == "torch":
            command += ["--torch-device", args.torch_device]
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
            from cases_torch import torch_worker
            result = torch_worker(case, args.warmup, args.repetitions, args.torch_device)
        else:
            from cases_tinygrad import tinygrad_worker
            result = tinygrad_worker(case, args.warmup, args.repetitions, args.tinygrad_device, not args.no_tinygrad_jit)
    except PeerUnavailable as error:
        print(f"{args.worker}: {error}", file=sys.stderr)
        result = {"error": str(error), "unavailable": True}
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
