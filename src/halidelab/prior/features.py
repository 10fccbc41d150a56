"""Composition features for the conductivity prior.

Two kinds, all computed from the composition alone (no structure is needed, so any
designed composition can be scored):

1. *Element-property statistics* (the Magpie recipe of Ward et al., npj Comput. Mater.
   2, 16028 (2016)): for each property of the elements (atomic number, mass, period,
   group, Mendeleev number, Pauling electronegativity, atomic radius, melting point,
   molar volume, electron affinity, first ionisation energy), the fraction-weighted
   mean, mean absolute deviation, minimum, maximum and range. The element data are
   pymatgen's; matminer's featuriser computes the same but pins pandas < 3, which the
   project cannot take. Where pymatgen has no value (atomic radius of noble gases,
   heavy actinides) the statistics use the remaining elements.
2. *Halide physics* from :mod:`halidelab.rules` and :mod:`halidelab.composition`: the
   radius ratio t = r(M)/r(X) (Shannon crystal radii, CN 6), the packing it predicts,
   the octahedral-site vacancy fraction and Li site fraction of the close-packed
   Li_a M X_b picture, the ionic-radius mismatch among the M cations, the mean M
   valence, Li per anion, anion fractions and charge shares, cation mixing entropy.
   A feature that is undefined for a composition (no M cation, valences that do not
   balance, the octahedral picture for an oxide) is NaN; the gradient-boosting model
   handles NaN natively.

:func:`featurize` is vectorised over many compositions (10,000 in about a second).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterable, Sequence

import numpy as np
from pymatgen.core import Composition, Element

from halidelab.composition import ANION_VALENCE, assign_oxidation_states
from halidelab.errors import CompositionError
from halidelab.prior.data import CHALCOGENS, FAMILIES, HALOGENS, chemical_family, to_composition
from halidelab.rules import mismatch_percent, predict_packing, radius_ratio

#: pymatgen Element attributes used for the statistics (units: amu, K, cm^3/mol, eV, A).
ELEMENT_PROPERTIES: tuple[str, ...] = (
    "Z",
    "atomic_mass",
    "row",
    "group",
    "mendeleev_no",
    "X",
    "atomic_radius",
    "melting_point",
    "molar_volume",
    "electron_affinity",
    "ionization_energy",
)
STATISTICS: tuple[str, ...] = ("mean", "mad", "min", "max", "range")
N_ELEMENTS = 103
#: Anions counted for Li per anion and the anion fractions.
ANIONS: tuple[str, ...] = ("F", "Cl", "Br", "I", "O", "S", "Se", "Te", "N")
#: Packing predicted from t, as an ordinal feature.
PACKING_CODE = {"tetrahedral": 0.0, "ccp": 1.0, "hcp": 2.0, "non-close-packed": 3.0}

_ANION_FRACTION_NAMES = tuple(f"frac_{a}" for a in ("F", "Cl", "Br", "I", "O", "S", "Se", "N"))
PHYSICS_FEATURES: tuple[str, ...] = (
    "li_fraction",
    "li_per_anion",
    *_ANION_FRACTION_NAMES,
    "halogen_charge_share",
    "chalcogen_charge_share",
    "n_elements",
    "cation_mixing_entropy",
    *(f"family_{f}" for f in FAMILIES),
    "m_mean_valence",
    "t_radius_ratio",
    "packing_code",
    "octahedral_vacancy_fraction",
    "li_site_fraction",
    "m_mismatch_percent",
)


def feature_names() -> list[str]:
    """Names of the feature columns, in order."""
    stats = [f"{p}_{s}" for p in ELEMENT_PROPERTIES for s in STATISTICS]
    return stats + list(PHYSICS_FEATURES)


@functools.lru_cache(maxsize=1)
def _property_table() -> np.ndarray:
    """(103, n_properties) element data from pymatgen; NaN where pymatgen has none."""
    table = np.full((N_ELEMENTS, len(ELEMENT_PROPERTIES)), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns about missing data for some elements
        for z in range(1, N_ELEMENTS + 1):
            el = Element.from_Z(z)
            for j, name in enumerate(ELEMENT_PROPERTIES):
                try:
                    value = getattr(el, name)
                except (AttributeError, KeyError, ValueError, TypeError):
                    continue
                if value is None:
                    continue
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    continue
                if math.isfinite(value):
                    table[z - 1, j] = value
    return table


def fraction_matrix(compositions: Sequence[Composition]) -> np.ndarray:
    """(n, 103) atomic fractions, column Z-1 for element Z."""
    out = np.zeros((len(compositions), N_ELEMENTS))
    for i, comp in enumerate(compositions):
        total = comp.num_atoms
        for el, n in comp.items():
            out[i, el.Z - 1] += float(n) / total
    return out


def element_statistics(fractions: np.ndarray) -> np.ndarray:
    """Fraction-weighted statistics of element properties, (n, n_props * 5).

    Mean = sum_i x_i p_i, mean absolute deviation = sum_i x_i |p_i - mean|, min, max and
    range over the elements present; each renormalised over the elements that have a
    value for that property.
    """
    props = _property_table()
    n = fractions.shape[0]
    out = np.full((n, len(ELEMENT_PROPERTIES) * len(STATISTICS)), np.nan)
    present = fractions > 0
    for j in range(props.shape[1]):
        p = props[:, j]
        known = np.isfinite(p)
        pk = np.where(known, p, 0.0)
        w = fractions * known
        wsum = w.sum(axis=1)
        ok = wsum > 0
        mean = np.divide(w @ pk, wsum, out=np.full(n, np.nan), where=ok)
        dev = np.abs(pk[None, :] - np.nan_to_num(mean)[:, None])
        mad = np.divide((w * dev).sum(axis=1), wsum, out=np.full(n, np.nan), where=ok)
        mask = present & known[None, :]
        lo = np.where(mask, pk[None, :], np.inf).min(axis=1)
        hi = np.where(mask, pk[None, :], -np.inf).max(axis=1)
        lo[~ok] = np.nan
        hi[~ok] = np.nan
        base = j * len(STATISTICS)
        out[:, base : base + 5] = np.column_stack([mean, mad, lo, hi, hi - lo])
    return out


@functools.lru_cache(maxsize=65536)
def _physics_from_items(items: tuple[tuple[str, float], ...]) -> tuple[float, ...]:
    """Physics features of one composition given as sorted ``(element, amount)`` pairs."""
    amounts = dict(items)
    total = sum(amounts.values())
    li = amounts.get("Li", 0.0)
    anions = {el: n for el, n in amounts.items() if el in ANIONS}
    n_anion = sum(anions.values())
    family = chemical_family(amounts)
    if family == "hydride":
        n_anion += amounts.get("H", 0.0)
    charge = {el: n * abs(ANION_VALENCE.get(el, 1)) for el, n in anions.items()}
    q_total = sum(charge.values())
    halogen_share = sum(charge.get(el, 0.0) for el in HALOGENS) / q_total if q_total else np.nan
    chalcogen_share = sum(charge.get(el, 0.0) for el in CHALCOGENS) / q_total if q_total else np.nan
    cations = {el: n for el, n in amounts.items() if el not in ANIONS and el != "Li" and el != "H"}
    n_cat = sum(cations.values())
    entropy = (
        abs(sum((n / n_cat) * math.log(n / n_cat) for n in cations.values() if n > 0))
        if n_cat
        else 0.0
    )
    values: list[float] = [
        li / total,
        li / n_anion if n_anion else np.nan,
        *(amounts.get(a, 0.0) / total for a in ("F", "Cl", "Br", "I", "O", "S", "Se", "N")),
        halogen_share,
        chalcogen_share,
        float(len(amounts)),
        entropy,
        *(1.0 if family == f else 0.0 for f in FAMILIES),
    ]
    with warnings.catch_warnings():
        # pymatgen warns when a Shannon radius has no spin label (e.g. Mn2+): harmless here
        warnings.simplefilter("ignore", UserWarning)
        values.extend(_halide_physics(amounts, family, li, n_anion, cations))
    return tuple(values)


def _halide_physics(
    amounts: dict[str, float], family: str, li: float, n_anion: float, cations: dict[str, float]
) -> list[float]:
    """m_mean_valence, t, packing code, vacancy and Li site fractions, M mismatch (or NaN)."""
    nan5 = [np.nan] * 6
    if not cations or not n_anion:
        return nan5
    try:
        valences = assign_oxidation_states(amounts)
    except (CompositionError, ValueError, KeyError):
        return nan5
    n_m = sum(cations.values())
    m_valence = sum(valences[el] * n for el, n in cations.items()) / n_m
    try:
        t = radius_ratio(amounts, oxidation_states=valences)
        packing = PACKING_CODE.get(predict_packing(t).packing, np.nan)
    except (CompositionError, ValueError, KeyError):
        t, packing = np.nan, np.nan
    # The octahedral-site picture (one octahedral site per anion, Li and M octahedral)
    # belongs to close-packed halides; for oxides and sulfides it is left undefined.
    if family == "halide":
        vacancy = max(n_anion - n_m - li, 0.0) / n_anion
        li_site = li / n_anion
    else:
        vacancy = li_site = np.nan
    host = max(cations, key=lambda el: cations[el])
    mismatch = 0.0
    try:
        for el in cations:
            if el != host:
                m = abs(mismatch_percent(host, valences[host], el, valences[el]))
                mismatch = max(mismatch, m)
    except (CompositionError, ValueError, KeyError):
        mismatch = np.nan
    return [
        float(m_valence),
        float(t),
        float(packing),
        float(vacancy),
        float(li_site),
        float(mismatch),
    ]


def physics_features(compositions: Sequence[Composition]) -> np.ndarray:
    """(n, len(PHYSICS_FEATURES)) halide-physics and anion features (NaN where undefined)."""
    rows = []
    for comp in compositions:
        items = tuple(sorted((el.symbol, round(float(n), 6)) for el, n in comp.items() if n > 0))
        rows.append(_physics_from_items(items))
    return np.asarray(rows, dtype=float).reshape(len(compositions), len(PHYSICS_FEATURES))


def featurize(compositions: Iterable[str | Composition]) -> np.ndarray:
    """Feature matrix (n, len(feature_names())) for formulas or pymatgen Compositions.

    Raises
    ------
    CompositionError
        A formula that cannot be read.
    """
    comps = [c if isinstance(c, Composition) else to_composition(c) for c in compositions]
    if not comps:
        return np.empty((0, len(feature_names())))
    return np.hstack([element_statistics(fraction_matrix(comps)), physics_features(comps)])
