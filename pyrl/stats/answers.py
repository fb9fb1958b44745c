"""The Answer in plain words, rendered from the claims (``pyrl.stats.claims``): the claims
shown, one line each with its estimate and interval, then one line that counts what was
weighed and not shown; the design figures of the baseline gap, divergence, what n counts."""
from __future__ import annotations

import math
from collections import Counter
from typing import Any


def decimals(width: float | None) -> int:
    """Decimals that show an interval of this width to two significant digits."""
    if width is None or not math.isfinite(width) or width <= 0:
        return 2
    return max(0, min(4, 1 - math.floor(math.log10(width))))


def fmt_value(v: float | None, ci: list[float] | None = None, signed: bool = True, ratio: bool = False) -> str:
    """A number at the precision its interval warrants ('+41', '-0.28', '0.67x')."""
    if v is None:
        return "n/a"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    d = decimals(None if ci is None else ci[1] - ci[0])
    if ratio:
        return f"{v:.{max(2, d)}f}x"
    v = round(v, d) + 0.0  # no "-0"
    return f"{v:+.{d}f}" if signed else f"{v:.{d}f}"


def fmt_interval(ci: list[float] | None, signed: bool = True, ratio: bool = False) -> str:
    if ci is None:
        return "[n/a]"
    return f"[{fmt_value(ci[0], ci, signed, ratio).rstrip('x')}, {fmt_value(ci[1], ci, signed, ratio).rstrip('x')}]"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def claim_numbers(c: dict) -> str:
    """'-99.5 [-123.1, -82.9]' or '0.67x [0.45, 0.98]' (95% interval)."""
    ratio = c["scale"] == "ratio"
    what = "AUC " if c["measure"] == "AUC" else ""
    return f"{what}{fmt_value(c['estimate'], c['ci95'], ratio=ratio)} {fmt_interval(c['ci95'], ratio=ratio)}"


def claim_line(c: dict) -> str:
    """One shown claim on one line: statement, estimate, 95% interval, Holm-adjusted p."""
    return f"{c['statement']}: {claim_numbers(c)}, p_adj {fmt_p(c['p_adj'])}"


def _not_shown(claims: list[dict]) -> str | None:
    rest = [c for c in claims if not c["shown"]]
    if not rest:
        return None
    by = Counter(c["kind"] for c in rest)
    untested = sum(c["p"] is None for c in rest)
    parts = ", ".join(f"{k} {n}" for k, n in by.items())
    return (f"Weighed, not shown: {len(rest)} ({parts}){f'; {untested} not testable' if untested else ''}. "
            f"Every claim with its interval and why: --markdown, or --json (answer.claims).")


def design_line(doc: dict[str, Any]) -> str | None:
    """The baseline gap as a design aid: the smallest gap these runs detect, and the runs a gap
    at each end of its interval would need. No power computed from the observed gap alone."""
    if not doc["comparisons"]:
        return None
    cp = doc["comparisons"][0]
    d = cp.get("design")
    if not d or d["mde"] is None:
        return None
    ci = cp["gap_ci95"]
    cap = d["runs_cap"]
    words = lambda k: "n/a" if k is None else (f"more than {cap}" if k > cap else str(k))  # noqa: E731
    text = (f"Design ({cp['label']}): {d['n']} runs per method detect a gap of {fmt_value(d['mde'], ci, False)} "
            f"or more with power {d['power']:g} (at Holm's first level, {d['alpha']:.2g})")
    need = d["runs_needed"]
    if len(need) == 2:
        far = max(abs(v) for v in ci)
        tail = (f"; a gap as large as {fmt_value(far, ci, False)}, its interval's far end, would need {words(need[0])} "
                f"runs per method")
        if ci[0] <= 0 <= ci[1]:
            tail += ", and no number of runs is enough if it is as small as its near end (0)"
        else:
            tail += f", as small as its near end, {words(need[1])}"
        text += tail
    return text + "."


def divergence_line(doc: dict[str, Any]) -> str | None:
    cells = [c for c in doc["cells"] if c["n_diverged"] or c["n_failed"]]
    if not cells:
        return None
    parts = []
    for c in cells:
        ci = c["divergence_rate_ci95"]
        rate = "" if ci is None else f" (rate CI [{100 * ci[0]:.0f}%, {100 * ci[1]:.0f}%])"
        parts.append(f"{c['label']} / {c['method']}: {c['n_diverged']} of {c['n_learners']} learners diverged{rate}"
                     + (f", {c['n_failed']} runs failed" if c["n_failed"] else ""))
    return (f"Divergence and failures: {'; '.join(parts)}. Diverged learners are scored by the "
            f"'{doc['meta']['diverged_policy']}' policy; failed runs are left out.")


def lines(doc: dict[str, Any], claims: list[dict], family: dict) -> list[str]:
    """The Answer: the family line, each shown claim, what was not shown, design, divergence, n."""
    out = [family["line"]]
    out += [claim_line(c) for c in claims if c["shown"]]
    out += [_not_shown(claims), design_line(doc), divergence_line(doc), doc["meta"]["n_counts"]]
    return [s for s in out if s]
