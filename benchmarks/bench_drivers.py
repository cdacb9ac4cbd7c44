"""Churn drivers: cxray's fit beside lifelines' CoxTimeVaryingFitter on the same demo data.

    python -m benchmarks.bench_drivers

A demo company is generated once with ``generate_demo(customers=N, seed=1)`` and cached under
CXRAY_BENCH_DIR (default ``bench-data``); N comes from CXRAY_BENCH_CUSTOMERS (default 1,000,000).
Each fit runs in a fresh child process (time and peak memory):

- ``drivers(ws)`` with the default candidates (every touchpoint and low-score kind), and
  ``drivers(ws)`` with only the planted drivers (the same covariates lifelines gets);
- lifelines' CoxTimeVaryingFitter on the planted drivers + segment, on a start–stop frame built
  from the same lifetimes and events. lifelines needs minutes for a million customers, so it runs
  on a random sample of CXRAY_BENCH_LIFELINES customers (default 50,000: about 3 minutes here) and its time is also
  shown scaled linearly to N (labelled as scaled).

Then the hazard ratios (95% intervals) are printed side by side.
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import BENCH_DIR, measure, print_table

PLANTED = ("delivery_late", "login_failed")
MARKER = "complete"  # written last: a half-built workspace is rebuilt


def demo_path(customers: int) -> Any:
    from cxray.demo import generate_demo

    path = BENCH_DIR / f"drivers-demo-{customers}-seed1"
    if not (path / MARKER).exists():
        generate_demo(path, customers=customers, seed=1, overwrite=True)
        (path / MARKER).write_text("built by benchmarks.bench_drivers\n")
    return path


def cxray_fit(path: Any, candidates: list[str] | None, max_count: int) -> dict[str, Any]:
    import cxray
    from cxray.analysis.drivers import drivers

    ws = cxray.open(path)
    result = drivers(ws, candidates=candidates, max_count=max_count)
    table = result.to_pandas().set_index("driver")
    hrs = {
        name: tuple(table.loc[name, ["hazard_ratio", "hr_lower", "hr_upper"]]) for name in PLANTED
    }
    adjust = result.adjustments.set_index("group")
    hrs["segment=business"] = tuple(
        adjust.loc["business", ["hazard_ratio", "hr_lower", "hr_upper"]]
    )
    return {"candidates": len(table), "hrs": hrs}


def long_frame(path: Any, sample: int, seed: int = 0) -> pd.DataFrame:
    """Start–stop rows (counts of the planted drivers so far, business flag) for a sample."""
    import cxray
    from cxray.analysis.lifetimes import customer_lifetimes

    ws = cxray.open(path)
    lifetimes = customer_lifetimes(ws)
    lifetimes = lifetimes.filter(~lifetimes.too_new & (lifetimes.duration_days > 0))
    people = lifetimes.select("customer_id", "start", "duration_days", "churned").execute()
    rng = np.random.default_rng(seed)
    if sample < len(people):
        people = people.iloc[np.sort(rng.choice(len(people), sample, replace=False))]
    segments = ws.customers.select("customer_id", "segment").execute()
    people = people.merge(segments, on="customer_id", how="left")
    events = ws.events.filter(ws.events.touchpoint.isin(list(PLANTED)))
    events = events.select("customer_id", "ts", "touchpoint", "event_id").execute()
    events = events.merge(people[["customer_id", "start", "duration_days"]], on="customer_id")
    events["t"] = ((events.ts - events.start).dt.total_seconds() / 86400).clip(lower=0.0)
    events = events[events.t < events.duration_days]
    events = events.sort_values(["customer_id", "t", "touchpoint", "event_id"])
    for name in PLANTED:
        events[name] = (events.touchpoint == name).astype(int).groupby(events.customer_id).cumsum()
    starts = people[["customer_id"]].assign(t=0.0, **dict.fromkeys(PLANTED, 0))
    changes = pd.concat([starts, events[["customer_id", "t", *PLANTED]]], ignore_index=True)
    changes = changes.sort_values(["customer_id", "t"], kind="stable")
    # several occurrences at one moment: the counts after the last of them hold from there on
    changes = changes.drop_duplicates(["customer_id", "t"], keep="last")
    changes = changes.merge(
        people[["customer_id", "duration_days", "churned", "segment"]], on="customer_id"
    )
    stop = changes.groupby("customer_id").t.shift(-1)
    last = stop.isna()
    return pd.DataFrame(
        {
            "id": changes.customer_id.to_numpy(),
            "start": changes.t.to_numpy(),
            "stop": stop.fillna(changes.duration_days).to_numpy(),
            "event": (last & changes.churned.astype(bool)).to_numpy(),
            "business": (changes.segment == "business").astype(float).to_numpy(),
            **{name: changes[name].to_numpy() for name in PLANTED},
        }
    )


def lifelines_fit(path: Any, sample: int) -> dict[str, Any]:
    from lifelines import CoxTimeVaryingFitter

    long = long_frame(path, sample)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cox = CoxTimeVaryingFitter().fit(
            long, id_col="id", event_col="event", start_col="start", stop_col="stop"
        )
    fit_seconds = time.perf_counter() - started
    summary = cox.summary
    columns = ["exp(coef)", "exp(coef) lower 95%", "exp(coef) upper 95%"]
    hrs = {name: tuple(summary.loc[name, columns]) for name in PLANTED}
    hrs["segment=business"] = tuple(summary.loc["business", columns])
    return {"rows": len(long), "fit_s": fit_seconds, "hrs": hrs}


def _hr(values: tuple[float, float, float]) -> str:
    return f"{values[0]:.3f} ({values[1]:.3f}-{values[2]:.3f})"


def main() -> None:
    customers = int(os.environ.get("CXRAY_BENCH_CUSTOMERS", 1_000_000))
    sample = min(int(os.environ.get("CXRAY_BENCH_LIFELINES", 50_000)), customers)
    path = demo_path(customers)
    full_s, full_gb, full = measure(lambda: cxray_fit(path, None, 10))
    same_s, same_gb, same = measure(lambda: cxray_fit(path, list(PLANTED), 1000))
    half = measure(lambda: lifelines_fit(path, sample // 2))[2]
    life_s, life_gb, life = measure(lambda: lifelines_fit(path, sample))
    scale = customers / sample
    scaled = life["fit_s"] * scale
    # lifelines' time grows faster than linearly: linear scaling understates it
    growth = float(np.log(life["fit_s"] / half["fit_s"]) / np.log(sample / (sample // 2)))
    rows = [
        {
            "fit": "cxray drivers(), default candidates (max_count=10)",
            "customers": customers,
            "covariates": f"{full['candidates']} + segment",
            "seconds": full_s,
            "peak_GiB": full_gb,
        },
        {
            "fit": "cxray drivers(), planted drivers only (max_count=1000)",
            "customers": customers,
            "covariates": f"{len(PLANTED)} + segment",
            "seconds": same_s,
            "peak_GiB": same_gb,
        },
        {
            "fit": "lifelines CoxTimeVaryingFitter, measured (fit only; "
            f"{life['rows']:,} start-stop rows)",
            "customers": sample,
            "covariates": f"{len(PLANTED)} + segment",
            "seconds": life["fit_s"],
            "peak_GiB": life_gb,
        },
    ]
    if scale > 1:
        rows.append(
            {
                "fit": f"lifelines, SCALED linearly x{scale:.1f} to {customers:,} (not measured)",
                "customers": customers,
                "covariates": f"{len(PLANTED)} + segment",
                "seconds": scaled,
                "peak_GiB": None,
            }
        )
    print_table(f"churn drivers on a {customers:,}-customer demo (seed 1)", rows)
    print(f"(lifelines child process incl. building its frame: {life_s:.1f} s)")
    print(
        f"lifelines fit on {sample // 2:,} customers: {half['fit_s']:.1f} s, on {sample:,}: "
        f"{life['fit_s']:.1f} s -> time grows as customers^{growth:.2f}"
    )
    if scale > 1:
        print(
            f"lifelines SCALED to {customers:,} with that growth (not measured): "
            f"{life['fit_s'] * scale**growth:,.0f} s"
        )
    label = "scaled " if scale > 1 else ""
    print(f"lifelines {label}time / cxray default drivers() time: {scaled / full_s:.1f}x")
    print(f"lifelines {label}time / cxray same-covariates time:   {scaled / same_s:.1f}x")
    print_table(
        "hazard ratios (95% interval)",
        [
            {
                "covariate": name,
                "cxray default": _hr(full["hrs"][name]),
                "cxray same covariates": _hr(same["hrs"][name]),
                f"lifelines ({sample:,})": _hr(life["hrs"][name]),
            }
            for name in [*PLANTED, "segment=business"]
        ],
    )


if __name__ == "__main__":
    main()
