"""Physical constants and unit conversions, in one place (CODATA 2018 exact values)."""

from __future__ import annotations

#: Boltzmann constant in eV/K.
K_B_EV_K: float = 8.617333262e-5
#: Boltzmann constant in J/K.
K_B_J_K: float = 1.380649e-23
#: Elementary charge in C.
E_CHARGE_C: float = 1.602176634e-19
#: Avogadro constant in 1/mol.
N_A_PER_MOL: float = 6.02214076e23
#: Faraday constant in C/mol.
FARADAY_C_MOL: float = E_CHARGE_C * N_A_PER_MOL
#: Gas constant in J/(mol K).
R_J_MOL_K: float = K_B_J_K * N_A_PER_MOL
#: 0 degC in K.
ZERO_C_K: float = 273.15
#: Room temperature used for "sigma at 25 C" in K.
ROOM_TEMPERATURE_K: float = 298.15
#: 1 cubic angstrom in cm^3.
A3_TO_CM3: float = 1e-24
#: 1 angstrom^2/ps in cm^2/s.
A2_PS_TO_CM2_S: float = 1e-4
#: Cu K-alpha (weighted K-alpha1/alpha2) wavelength in angstrom, as pymatgen uses it.
CU_KALPHA_A: float = 1.54184
#: Intensity ratio I(K-alpha2)/I(K-alpha1) of a Cu tube (2:1 line strengths).
CU_KALPHA2_KALPHA1_RATIO: float = 0.5
