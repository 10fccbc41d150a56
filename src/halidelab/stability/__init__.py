"""Thermodynamic stability from one MLIP: competing phases, convex hull, electrochemical
window against Li/Li+, and reactions with cathodes.

- :mod:`.references`: the competing phases, built in code and relaxed with the MLIP.
- :mod:`.hull`: energy above the convex hull and decomposition products.
- :mod:`.window`: reduction and oxidation limits vs Li/Li+ (grand potential).
- :mod:`.interface`: reaction energy with a cathode over the mixing ratio.
"""
