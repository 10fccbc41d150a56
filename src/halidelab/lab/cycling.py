"""Galvanostatic cycling: half-cycles, capacity, coulombic efficiency, retention, rate table.

Input is a table in the schema of :mod:`halidelab.lab.cyclers` (``time_s``,
``voltage_V``, ``current_A`` with positive = charge, cumulative ``charge_capacity_Ah`` /
``discharge_capacity_Ah``).

How cycles are built (instrument cycle counters are not used, because Arbin, Maccor,
EC-Lab and Novonix increment them at different points):

1. Each row is charging (I > +I_rest), discharging (I < -I_rest) or resting.
2. A *half-cycle* is all the rows between two reversals of the current sign: a CC step,
   its CV hold and any rest or pulse in between count as one half-cycle. Its capacity is
   the sum of the instrument's capacity increments over those rows.
3. Half-cycles are paired by the electrode *convention*:

   ``"cathode"`` (default; LiCoO2, NCM, a full cell): the first process is charge =
   delithiation of the cathode (I > 0, voltage rises); the reversible capacity is the
   discharge (lithiation, I < 0); CE = discharge / charge.

   ``"anode"`` (graphite, Si, Li-In vs Li): the first process is lithiation of the
   working electrode (cycler discharge, I < 0); the reversible capacity is the
   delithiation (cycler charge, I > 0); CE = delithiation / lithiation.

   A cycle is one forward half-cycle followed by the reverse one. cellpy defaults
   silently to the anode convention; here the convention is a parameter, printed with
   every result. A reverse half-cycle before the first forward one (a cathode cell that
   starts with a discharge) is left out of the cycle list and reported in ``notes``.

Specific capacities are per gram of cathode (working-electrode) active material, mAh/g.
The C-rate of a half-cycle is its charge-weighted median current divided by the 1C
current ``active mass x c-rate capacity`` (1C = 140 mAh/g for LiCoO2 in the reference
paper).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from halidelab.errors import DataFormatError, FitError
from halidelab.plotting import pyplot, savefig
from halidelab.records import Provenance, Record

Convention = Literal["cathode", "anode"]

CONVENTIONS: dict[str, str] = {
    "cathode": (
        "cathode: charge (I > 0) = delithiation of the cathode, first; capacity = "
        "discharge (lithiation); CE = discharge / charge"
    ),
    "anode": (
        "anode: lithiation of the working electrode (cycler discharge, I < 0) first; "
        "capacity = delithiation (cycler charge); CE = delithiation / lithiation"
    ),
}


def _forward_sign(convention: str) -> int:
    if convention not in CONVENTIONS:
        raise DataFormatError(f"unknown convention {convention!r}; use 'cathode' or 'anode'")
    return +1 if convention == "cathode" else -1


def _increments_from_cumulative(cum: np.ndarray) -> np.ndarray:
    """Per-row charge passed, from a counter that is cumulative within each cycle."""
    x = np.nan_to_num(np.asarray(cum, dtype=float))
    inc = np.diff(x, prepend=0.0)
    reset = inc < 0
    inc[reset] = x[reset]
    return inc


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    v, w = values[order], weights[order]
    if w.sum() <= 0:
        return float(np.median(values))
    c = np.cumsum(w)
    return float(v[np.searchsorted(c, 0.5 * c[-1])])


def split_half_cycles(
    data: pd.DataFrame, rest_current_A: float | None = None, min_fraction: float = 0.005
) -> pd.DataFrame:
    """Half-cycles of a normalised cycler table.

    Parameters
    ----------
    data : DataFrame
        Schema of :mod:`halidelab.lab.cyclers`.
    rest_current_A : float, optional
        |I| at or below this counts as rest; default 0.2% of the largest |I| in the file.
    min_fraction : float
        Runs of one sign carrying less than this fraction of the largest half-cycle's
        charge (noise around zero current, a 1-s pulse) are treated as rest, so they do
        not split a half-cycle.

    Returns
    -------
    DataFrame
        One row per half-cycle: ``direction`` (+1 charge, -1 discharge), ``first_row``,
        ``last_row`` (positions), ``start_s``, ``duration_s``, ``capacity_Ah``,
        ``current_A`` (charge-weighted median |I|), ``v_start_V``, ``v_end_V``,
        ``instrument_cycle``.
    """
    for col in ("time_s", "voltage_V", "current_A", "charge_capacity_Ah", "discharge_capacity_Ah"):
        if col not in data.columns:
            raise DataFormatError(
                f"cycling data without column {col!r}: read the file with "
                "halidelab.lab.cyclers.read_cycler"
            )
    current = data["current_A"].to_numpy(dtype=float)
    if len(current) == 0 or not np.any(np.isfinite(current)):
        raise DataFormatError("cycling data has no current values")
    imax = float(np.nanmax(np.abs(current)))
    if imax == 0:
        return _empty_halves()
    thr = 0.002 * imax if rest_current_A is None else float(rest_current_A)
    qc = _increments_from_cumulative(data["charge_capacity_Ah"].to_numpy())
    qd = _increments_from_cumulative(data["discharge_capacity_Ah"].to_numpy())
    sign = np.where(current > thr, 1, np.where(current < -thr, -1, 0))
    for _ in range(3):
        runs = _runs(sign, qc, qd)
        if not runs:
            return _empty_halves()
        biggest = max(r[3] for r in runs)
        small = [r for r in runs if r[3] < min_fraction * biggest]
        if not small:
            break
        for first, last, _, _ in small:
            sign[first : last + 1] = 0
    time = data["time_s"].to_numpy(dtype=float)
    volt = data["voltage_V"].to_numpy(dtype=float)
    cyc = data["cycle"] if "cycle" in data.columns else pd.Series([pd.NA] * len(data))
    rows = []
    for first, last, direction, cap in _runs(sign, qc, qd):
        sl = slice(first, last + 1)
        mask = sign[sl] == direction
        i_abs = np.abs(current[sl][mask])
        dt = np.diff(time[sl], prepend=time[first])[mask]
        weights = np.where(dt > 0, i_abs * dt, i_abs * 1e-12)
        ic = cyc.iloc[first]
        rows.append(
            {
                "direction": direction,
                "first_row": first,
                "last_row": last,
                "start_s": time[first],
                "duration_s": time[last] - time[first],
                "capacity_Ah": cap,
                "current_A": _weighted_median(i_abs, weights),
                "v_start_V": volt[first],
                "v_end_V": volt[last],
                "instrument_cycle": None if pd.isna(ic) else int(ic),
            }
        )
    return pd.DataFrame(rows)


def _empty_halves() -> pd.DataFrame:
    return pd.DataFrame(
        columns=[
            "direction",
            "first_row",
            "last_row",
            "start_s",
            "duration_s",
            "capacity_Ah",
            "current_A",
            "v_start_V",
            "v_end_V",
            "instrument_cycle",
        ]
    )


def _runs(sign: np.ndarray, qc: np.ndarray, qd: np.ndarray) -> list[tuple[int, int, int, float]]:
    """(first_row, last_row, direction, capacity_Ah) of maximal same-sign runs."""
    idx = np.flatnonzero(sign != 0)
    if idx.size == 0:
        return []
    s = sign[idx]
    breaks = np.flatnonzero(s[1:] != s[:-1]) + 1
    out = []
    for a, b in zip(
        np.concatenate([[0], breaks]), np.concatenate([breaks, [idx.size]]), strict=True
    ):
        first, last, direction = int(idx[a]), int(idx[b - 1]), int(s[a])
        q = qc if direction > 0 else qd
        out.append((first, last, direction, float(q[first : last + 1].sum())))
    return out


def pair_cycles(
    halves: pd.DataFrame, convention: Convention = "cathode"
) -> tuple[pd.DataFrame, list[str]]:
    """Assign half-cycles to cycles (forward then reverse) under ``convention``.

    Returns the half-cycle table with columns ``cycle`` (1, 2, ...; 0 for a leading
    reverse half-cycle left out) and ``role`` (``"forward"``/``"reverse"``), and notes.
    """
    fwd = _forward_sign(convention)
    halves = halves.copy()
    cycle_of, role = [], []
    n, notes = 0, []
    open_cycle = False
    for d in halves["direction"].to_numpy():
        if d == fwd:
            n += 1
            cycle_of.append(n)
            role.append("forward")
            open_cycle = True
        elif open_cycle:
            cycle_of.append(n)
            role.append("reverse")
            open_cycle = False
        else:
            cycle_of.append(0)
            role.append("reverse")
            notes.append(
                f"a {'discharge' if d < 0 else 'charge'} half-cycle before the first "
                f"{'charge' if fwd > 0 else 'discharge'} is left out of the cycles "
                f"({convention} convention)"
            )
    halves["cycle"] = cycle_of
    halves["role"] = role
    return halves, notes


@dataclasses.dataclass(frozen=True)
class CycleRecord(Record):
    """One charge/discharge cycle.

    Capacities in Ah and, when the active mass is known, in mAh per g of active
    material; ``capacity`` is the reversible one of the convention (cathode: discharge);
    ``ce_pct`` = reverse / forward x 100; C-rates need the c-rate capacity.
    """

    cycle: int
    charge_Ah: float
    discharge_Ah: float | None
    charge_mAh_g: float | None
    discharge_mAh_g: float | None
    capacity_mAh_g: float | None
    capacity_Ah: float | None
    ce_pct: float | None
    charge_current_A: float
    discharge_current_A: float | None
    c_rate_charge: float | None
    c_rate_discharge: float | None


@dataclasses.dataclass(frozen=True)
class RateStep(Record):
    """Consecutive cycles at one C-rate (of the reverse, capacity-measuring half-cycle)."""

    c_rate: float
    first_cycle: int
    last_cycle: int
    n_cycles: int
    capacity_mAh_g: float | None
    capacity_std_mAh_g: float | None
    last_capacity_mAh_g: float | None
    capacity_Ah: float
    ce_pct: float | None


@dataclasses.dataclass(frozen=True)
class CyclingResult(Record):
    """Capacity, coulombic efficiency, retention and rate capability of one cell.

    ``retention_pct`` = capacity at ``retention_cycle`` / capacity at
    ``retention_reference_cycle`` x 100; ``recovery_pct`` = mean capacity of the first
    later rate step at the first step's C-rate / mean capacity of the first step x 100.
    ``*_mAh_g`` fields are None when no active mass was given.
    """

    convention: str
    convention_text: str
    active_mass_g: float | None
    c_rate_capacity_mAh_g: float | None
    n_cycles: int
    cycles: tuple[CycleRecord, ...]
    first_charge_mAh_g: float | None
    first_discharge_mAh_g: float | None
    first_capacity_Ah: float | None
    initial_ce_pct: float | None
    retention_pct: float | None
    retention_cycle: int | None
    retention_reference_cycle: int
    rate_table: tuple[RateStep, ...]
    recovery_pct: float | None
    notes: tuple[str, ...]
    provenance: Provenance


def _nice_rate(rate: float) -> float:
    """C-rate rounded to 2 significant figures (0.2, 0.33, 1, 0.05)."""
    if not np.isfinite(rate) or rate <= 0:
        return float("nan")
    return float(f"{rate:.2g}")


def analyse_cycling(
    data: pd.DataFrame,
    *,
    active_mass_g: float | None = None,
    c_rate_capacity_mAh_g: float | None = None,
    convention: Convention = "cathode",
    retention_cycle: int | None = None,
    retention_reference_cycle: int = 1,
    rest_current_A: float | None = None,
    rate_tolerance: float = 0.1,
    source: str = "",
) -> CyclingResult:
    """Analyse a galvanostatic cycling run.

    Parameters
    ----------
    data : DataFrame
        Normalised cycler table (:func:`halidelab.lab.cyclers.read_cycler` ``.data``).
    active_mass_g : float, optional
        Mass of cathode active material, g (for mAh/g).
    c_rate_capacity_mAh_g : float, optional
        Specific capacity that defines 1C, mAh/g (140 for LiCoO2); needs the mass.
    convention : {"cathode", "anode"}
        Which process comes first and which capacity is reversible (module docstring).
    retention_cycle : int, optional
        Cycle at which retention is reported (default: the last complete cycle).
    retention_reference_cycle : int
        Cycle whose capacity is 100% (default 1).
    rest_current_A : float, optional
        Rest threshold for :func:`split_half_cycles`.
    rate_tolerance : float
        Relative C-rate difference below which consecutive cycles form one rate step.
    source : str
        File name for the provenance.

    Returns
    -------
    CyclingResult

    Raises
    ------
    FitError
        No complete charge/discharge cycle in the data.
    """
    fwd = _forward_sign(convention)
    if active_mass_g is not None and active_mass_g <= 0:
        raise DataFormatError(f"active mass must be positive, got {active_mass_g} g")
    if c_rate_capacity_mAh_g is not None and active_mass_g is None:
        raise DataFormatError("a C-rate capacity needs the active mass (--active-mass) too")
    halves = split_half_cycles(data, rest_current_A)
    if halves.empty:
        raise FitError(
            f"{source or 'data'}: no charge or discharge current found (rest or "
            "impedance steps only); nothing to analyse"
        )
    halves, notes = pair_cycles(halves, convention)
    one_c_A = (
        active_mass_g * c_rate_capacity_mAh_g * 1e-3
        if active_mass_g is not None and c_rate_capacity_mAh_g is not None
        else None
    )

    def spec(q: float | None) -> float | None:
        return None if q is None or active_mass_g is None else q * 1e3 / active_mass_g

    def rate(i: float | None) -> float | None:
        return None if i is None or one_c_A is None else i / one_c_A

    records = []
    for n, grp in halves[halves["cycle"] > 0].groupby("cycle", sort=True):
        f = grp[grp["role"] == "forward"].iloc[0]
        r = grp[grp["role"] == "reverse"]
        r = r.iloc[0] if len(r) else None
        q_f = float(f["capacity_Ah"])
        q_r = None if r is None else float(r["capacity_Ah"])
        charge, discharge = (q_f, q_r) if fwd > 0 else (q_r, q_f)
        i_f = float(f["current_A"])
        i_r = None if r is None else float(r["current_A"])
        i_ch, i_dis = (i_f, i_r) if fwd > 0 else (i_r, i_f)
        ce = None if q_r is None or q_f <= 0 else 100.0 * q_r / q_f
        records.append(
            CycleRecord(
                cycle=int(n),
                charge_Ah=charge if charge is not None else float("nan"),
                discharge_Ah=discharge,
                charge_mAh_g=spec(charge),
                discharge_mAh_g=spec(discharge),
                capacity_mAh_g=spec(q_r),
                capacity_Ah=q_r,
                ce_pct=ce,
                charge_current_A=i_ch if i_ch is not None else float("nan"),
                discharge_current_A=i_dis,
                c_rate_charge=rate(i_ch),
                c_rate_discharge=rate(i_dis),
            )
        )
    complete = [c for c in records if c.capacity_Ah is not None]
    if not complete:
        raise FitError(
            f"{source or 'data'}: no complete cycle (a "
            f"{'charge then discharge' if fwd > 0 else 'discharge then charge'}) under "
            f"the {convention} convention; check --convention"
        )
    if len(complete) < len(records):
        notes.append(
            f"cycle {records[-1].cycle} is incomplete (no reverse half-cycle): "
            "left out of CE, retention and rate table"
        )
    first = complete[0]
    if first.ce_pct is not None and first.ce_pct > 100.0:
        notes.append(
            f"cycle {first.cycle} CE {first.ce_pct:.1f}% > 100%: its first half-cycle was "
            "shorter than the reverse one (the cell did not start from the fully "
            "discharged/lithiated state), so the initial CE is not a formation loss"
        )
    by_cycle = {c.cycle: c for c in complete}
    ret_cycle = retention_cycle if retention_cycle is not None else complete[-1].cycle
    retention = None
    if ret_cycle in by_cycle and retention_reference_cycle in by_cycle:
        ref = by_cycle[retention_reference_cycle].capacity_Ah
        retention = 100.0 * by_cycle[ret_cycle].capacity_Ah / ref if ref else None
    elif retention_cycle is not None or retention_reference_cycle not in by_cycle:
        raise FitError(
            f"retention needs complete cycles {retention_reference_cycle} and "
            f"{ret_cycle}; the data has complete cycles {complete[0].cycle}-"
            f"{complete[-1].cycle}"
        )
    rate_table, recovery = _rate_table(complete, convention, rate_tolerance)
    if one_c_A is None:
        notes.append("no active mass / c-rate capacity: C-rates and rate table not computed")
    return CyclingResult(
        convention=convention,
        convention_text=CONVENTIONS[convention],
        active_mass_g=active_mass_g,
        c_rate_capacity_mAh_g=c_rate_capacity_mAh_g,
        n_cycles=len(complete),
        cycles=tuple(records),
        first_charge_mAh_g=first.charge_mAh_g,
        first_discharge_mAh_g=first.discharge_mAh_g,
        first_capacity_Ah=first.capacity_Ah,
        initial_ce_pct=first.ce_pct,
        retention_pct=retention,
        retention_cycle=ret_cycle,
        retention_reference_cycle=retention_reference_cycle,
        rate_table=tuple(rate_table),
        recovery_pct=recovery,
        notes=tuple(notes),
        provenance=Provenance(
            method="galvanostatic-cycling",
            parameters={
                "convention": convention,
                "active_mass_g": active_mass_g,
                "c_rate_capacity_mAh_g": c_rate_capacity_mAh_g,
                "rest_current_A": rest_current_A,
                "rate_tolerance": rate_tolerance,
                "source": source,
            },
        ),
    )


def _rate_table(
    cycles: Sequence[CycleRecord], convention: str, tol: float
) -> tuple[list[RateStep], float | None]:
    """Group consecutive cycles by the C-rate of the capacity-measuring half-cycle."""

    def cap_rate(c: CycleRecord) -> float | None:
        return c.c_rate_discharge if convention == "cathode" else c.c_rate_charge

    if not cycles or cap_rate(cycles[0]) is None:
        return [], None
    groups: list[list[CycleRecord]] = []
    for c in cycles:
        r = cap_rate(c)
        if groups and abs(r - cap_rate(groups[-1][0])) <= tol * cap_rate(groups[-1][0]):
            groups[-1].append(c)
        else:
            groups.append([c])
    steps = []
    for g in groups:
        caps = np.array([c.capacity_mAh_g for c in g], dtype=float)
        ces = np.array([c.ce_pct for c in g], dtype=float)
        steps.append(
            RateStep(
                c_rate=_nice_rate(float(np.mean([cap_rate(c) for c in g]))),
                first_cycle=g[0].cycle,
                last_cycle=g[-1].cycle,
                n_cycles=len(g),
                capacity_mAh_g=float(caps.mean()),
                capacity_std_mAh_g=float(caps.std(ddof=1)) if len(g) > 1 else 0.0,
                last_capacity_mAh_g=float(caps[-1]),
                capacity_Ah=float(np.mean([c.capacity_Ah for c in g])),
                ce_pct=float(np.nanmean(ces)),
            )
        )
    recovery = None
    r0 = steps[0].c_rate
    for k, s in enumerate(steps[1:], start=1):
        if k >= 2 and abs(s.c_rate - r0) <= tol * r0:
            recovery = 100.0 * s.capacity_mAh_g / steps[0].capacity_mAh_g
            break
    return steps, recovery


# --------------------------------------------------------------------------- curves, plots


@dataclasses.dataclass(frozen=True)
class VoltageCurve:
    """Voltage against capacity passed in one half-cycle (capacity from 0)."""

    cycle: int
    process: str  # "charge" or "discharge" (cycler sense)
    capacity: np.ndarray  # mAh/g when the mass is known, else mAh
    voltage_V: np.ndarray
    capacity_unit: str


def voltage_curves(
    data: pd.DataFrame,
    cycles: Sequence[int] | None = None,
    *,
    active_mass_g: float | None = None,
    convention: Convention = "cathode",
    rest_current_A: float | None = None,
) -> list[VoltageCurve]:
    """Voltage-capacity curves of chosen cycles (cycle numbers as in :func:`analyse_cycling`).

    Rows at rest inside a half-cycle are left out of the curve.
    """
    halves, _ = pair_cycles(split_half_cycles(data, rest_current_A), convention)
    wanted = set(cycles) if cycles is not None else set(halves["cycle"]) - {0}
    missing = sorted(set(wanted) - set(halves["cycle"]))
    if missing:
        raise DataFormatError(
            f"no cycle(s) {missing} in the data (it has 1-{int(halves['cycle'].max())})"
        )
    cur = data["current_A"].to_numpy(dtype=float)
    volt = data["voltage_V"].to_numpy(dtype=float)
    qcol = {
        1: _increments_from_cumulative(data["charge_capacity_Ah"].to_numpy()),
        -1: _increments_from_cumulative(data["discharge_capacity_Ah"].to_numpy()),
    }
    scale, unit = (1e3 / active_mass_g, "mAh/g") if active_mass_g else (1e3, "mAh")
    out = []
    for _, h in halves[halves["cycle"].isin(wanted)].iterrows():
        d = int(h["direction"])
        sl = slice(int(h["first_row"]), int(h["last_row"]) + 1)
        q = np.cumsum(qcol[d][sl]) * scale
        mask = d * cur[sl] > 0
        out.append(
            VoltageCurve(
                int(h["cycle"]), "charge" if d > 0 else "discharge", q[mask], volt[sl][mask], unit
            )
        )
    return out


def plot_voltage_curves(
    curves: Sequence[VoltageCurve], path: str | Path | None = None, title: str = ""
) -> Any:
    """Voltage vs specific capacity, one colour per cycle (charge and discharge)."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(4.8, 3.8), dpi=150)
    cycles = sorted({c.cycle for c in curves})
    cmap = plt.get_cmap("viridis", max(len(cycles), 2))
    for k, n in enumerate(cycles):
        for j, c in enumerate(c for c in curves if c.cycle == n):
            ax.plot(
                c.capacity,
                c.voltage_V,
                color=cmap(k),
                lw=1.4,
                label=f"cycle {n}" if j == 0 else None,
            )
    unit = curves[0].capacity_unit if curves else "mAh/g"
    ax.set_xlabel(f"Specific capacity ({unit})" if unit == "mAh/g" else f"Capacity ({unit})")
    ax.set_ylabel("Voltage (V)")
    ax.set_xlim(left=0)
    ax.legend(frameon=False, fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        savefig(fig, path)
    return fig


def plot_capacity_ce(result: CyclingResult, path: str | Path | None = None, title: str = "") -> Any:
    """Charge/discharge capacity (left axis) and coulombic efficiency (right axis) vs cycle."""
    plt = pyplot()

    cyc = [c for c in result.cycles if c.capacity_Ah is not None]
    n = np.array([c.cycle for c in cyc])
    per_g = result.active_mass_g is not None
    ch = np.array([(c.charge_mAh_g if per_g else c.charge_Ah * 1e3) for c in cyc], dtype=float)
    dis = np.array(
        [(c.discharge_mAh_g if per_g else c.discharge_Ah * 1e3) for c in cyc], dtype=float
    )
    ce = np.array([c.ce_pct for c in cyc], dtype=float)
    fig, ax = plt.subplots(figsize=(5.2, 3.8), dpi=150)
    ax.plot(n, ch, "s", mfc="none", mec="tab:blue", ms=4, label="charge")
    ax.plot(n, dis, "s", color="tab:blue", ms=4, label="discharge")
    ax.set_xlabel("Cycle number")
    ax.set_ylabel("Specific capacity (mAh/g)" if per_g else "Capacity (mAh)", color="tab:blue")
    top = np.nanmax(np.concatenate([ch, dis]))
    ax.set_ylim(0, 1.25 * top)
    ax2 = ax.twinx()
    ax2.plot(n, ce, "o", color="tab:red", ms=3, label="CE")
    ax2.set_ylabel("Coulombic efficiency (%)", color="tab:red")
    ax2.set_ylim(min(80.0, np.nanmin(ce) - 2), max(105.0, np.nanmax(ce) + 5))  # never clip a CE
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for step in result.rate_table if len(result.rate_table) > 1 else ():
        ax.annotate(
            f"{step.c_rate:g}C",
            ((step.first_cycle + step.last_cycle) / 2, 0.05 * top),
            ha="center",
            fontsize=7,
        )
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, frameon=False, fontsize=8, loc="upper right")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        savefig(fig, path)
    return fig


# --------------------------------------------------------------------------- simulation


def simulate_cycling(
    protocol: Sequence[tuple[float, float, float]],
    *,
    active_mass_g: float,
    c_rate_capacity_mAh_g: float,
    points_per_half: int = 60,
    rest_s: float = 60.0,
    v_min: float = 2.5,
    v_max: float = 4.2,
) -> pd.DataFrame:
    """Synthetic CC cycling of a cathode cell in the normalised schema (for tests, demos).

    Parameters
    ----------
    protocol : sequence of (c_rate, charge_mAh_g, discharge_mAh_g)
        One entry per cycle: the C-rate of both half-cycles and the specific capacities
        they deliver.
    active_mass_g, c_rate_capacity_mAh_g : float
        Define the 1C current, A = mass x capacity x 1e-3.
    points_per_half : int
        Rows per half-cycle; capacity grows linearly with time (constant current).
    rest_s : float
        Rest after each half-cycle, s (zero current rows).
    v_min, v_max : float
        Voltage limits of a LiCoO2-like curve (a sloping plateau plus polarisation that
        grows with the C-rate), V. The voltage is cosmetic; the capacities are exact.

    Returns
    -------
    DataFrame
        Columns of :data:`halidelab.lab.cyclers.SCHEMA`.
    """
    rows: list[dict[str, Any]] = []
    t = 0.0
    one_c = active_mass_g * c_rate_capacity_mAh_g * 1e-3  # A
    step = 0
    for n, (c_rate, q_ch, q_dis) in enumerate(protocol, start=1):
        i = c_rate * one_c
        eta = 0.04 * c_rate + 0.02
        for sign, q_spec in ((1, q_ch), (-1, q_dis)):
            step += 1
            q_Ah = q_spec * active_mass_g * 1e-3
            duration = q_Ah / i * 3600.0
            frac = np.linspace(0.0, 1.0, points_per_half)
            x = frac * q_spec / c_rate_capacity_mAh_g  # state of charge seen by the cathode
            x = x if sign > 0 else (q_ch / c_rate_capacity_mAh_g) - x
            ocv = (
                3.75
                + 0.25 * x
                + 0.05 * np.log(np.clip(x, 1e-3, None) / np.clip(1.2 - x, 1e-3, None))
            )
            volt = np.clip(ocv + sign * eta, v_min, v_max)
            for f, v in zip(frac, volt, strict=True):
                rows.append(
                    {
                        "time_s": t + f * duration,
                        "voltage_V": v,
                        "current_A": sign * i,
                        "cycle": n,
                        "step": step,
                        "charge_capacity_Ah": (
                            f * q_Ah if sign > 0 else q_ch * active_mass_g * 1e-3
                        ),
                        "discharge_capacity_Ah": f * q_Ah if sign < 0 else 0.0,
                    }
                )
            t += duration
            step += 1
            last = rows[-1]
            for k in (1, 2):
                rows.append(
                    {
                        **last,
                        "time_s": t + rest_s * k / 2,
                        "current_A": 0.0,
                        "voltage_V": last["voltage_V"] - sign * eta * 0.9,
                        "step": step,
                    }
                )
            t += rest_s
    df = pd.DataFrame(rows)
    df["cycle"] = df["cycle"].astype("Int64")
    df["step"] = df["step"].astype("Int64")
    return df
