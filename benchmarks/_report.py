"""Parent-side helpers: table rows, number formatting and the printed table."""

from __future__ import annotations

import math

__all__ = ["failed_row", "fmt_ratio", "fmt_time", "format_section", "row", "scaled"]

COLUMNS = ("name", "backend", "median", "min", "max", "ratio", "notes")


def row(name, backend, timing, ratio=None, notes="", **extra) -> dict:
    """One table row from a timing summary (``median_s``, ``min_s``, ``max_s``, ``repeats``)."""
    timing = timing or {}
    return {
        "name": name,
        "backend": backend,
        "median_s": timing.get("median_s"),
        "min_s": timing.get("min_s"),
        "max_s": timing.get("max_s"),
        "repeats": timing.get("repeats"),
        "ratio": ratio,
        "notes": notes,
        **extra,
    }


def failed_row(name, result) -> dict:
    """The row of a task that was skipped or failed, saying why."""
    task = result.get("task", {})
    why = result.get("skipped") or result.get("error") or "no result"
    word = "skipped" if result.get("skipped") else "FAILED"
    return row(name, task.get("backend", "?"), None, None, f"{word}: {why}")


def scaled(timing: dict, factor: float) -> dict:
    """A timing summary with every time multiplied by ``factor``."""
    out = dict(timing)
    for k in ("median_s", "min_s", "max_s"):
        out[k] = timing[k] * factor
    out["times_s"] = [t * factor for t in timing.get("times_s", [])]
    return out


def fmt_time(s) -> str:
    if s is None or (isinstance(s, float) and not math.isfinite(s)):
        return "-"
    if s >= 1.0:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3f} ms"
    return f"{s * 1e6:.1f} us"


def fmt_ratio(r) -> str:
    if r is None or (isinstance(r, float) and not math.isfinite(r)):
        return "-"
    if r >= 100:
        return f"{r:,.0f}x"
    if r >= 10:
        return f"{r:.1f}x"
    return f"{r:.3g}x"


def format_section(name: str, section: dict) -> str:
    """The printed table of one benchmark: a title, the ratio's meaning, rows, notes."""
    cells = [COLUMNS]
    for r in section["rows"]:
        cells.append((
            r["name"], r["backend"], fmt_time(r["median_s"]), fmt_time(r["min_s"]),
            fmt_time(r["max_s"]), fmt_ratio(r["ratio"]), r.get("notes", ""),
        ))
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS) - 1)]
    lines = [f"== {name}: {section['title']}", f"   ratio = {section['ratio']}"]
    for i, c in enumerate(cells):
        left = [c[0].ljust(widths[0]), c[1].ljust(widths[1])]
        right = [c[j].rjust(widths[j]) for j in range(2, len(COLUMNS) - 1)]
        lines.append("  ".join(left + right + [c[-1]]).rstrip())
        if i == 0:
            lines.append("-" * len(lines[-1]))
    for note in section.get("notes", []):
        lines.append(f"   * {note}")
    return "\n".join(lines)
