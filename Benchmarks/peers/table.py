"""The table: AlignCL's and the peers' cells for each case, their throughput and ratios, and the text."""
from __future__ import annotations

from aligncl_runner import match_row
from common import log


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


ALIGNCL_COLUMNS = [("aligncl_opencl", "AlignCL OpenCL"), ("aligncl_cpu", "AlignCL CPU")]


def peer_columns(torch_device: str) -> dict[str, tuple[str, str]]:
    """Each peer's (column key, title). PyTorch's is named after where it runs (torch_cpu or
    torch_cuda), so numbers from a GPU are never filed, in the table or the JSON, as CPU ones."""
    return {"torch": (f"torch_{torch_device}", f"PyTorch {torch_device.upper()}"),
            "tinygrad": ("tinygrad_opencl", "tinygrad OpenCL")}


def render_table(entries: list[dict], footnotes: list[str], torch_device: str) -> str:
    peers = list(peer_columns(torch_device).values())
    header = (["case", "unit"] + [title for _, title in ALIGNCL_COLUMNS + peers]
              + ["AlignCL-CL vs PyTorch", "AlignCL-CL vs tinygrad"])
    rows = []
    for entry in entries:
        row = [entry["label"], entry["unit"]]
        for key, title in ALIGNCL_COLUMNS + peers:
            cell = entry.get(key)
            if cell is None:
                row.append("skipped")
            elif cell.get("median_s") is not None:
                row.append(f"{fmt_ms(cell['median_s'])} ({fmt_rate(cell['throughput'])})")
            else:
                footnotes.append(f"{entry['label']}, {title}: {cell.get('error', 'no result')}")
                row.append(f"n/a [{len(footnotes)}]")
        for peer, _ in peers:
            ratio = entry.get("ratios", {}).get(peer)
            row.append(f"{ratio:.2f}x" if ratio is not None else "")
        rows.append(row)
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i]) for i, cell in enumerate(r)).rstrip()
             for r in [header] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def build_entries(cases, aligncl_rows, aligncl_info, peers, torch_device: str) -> list[dict]:
    peer_keys = [key for key, _ in peer_columns(torch_device).values()]
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
        for peer in peer_keys:
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
        for peer in peer_keys:
            other = (entry.get(peer) or {}).get("median_s")
            if base and other:
                entry["ratios"][peer] = other / base
        entries.append(entry)
    return entries
