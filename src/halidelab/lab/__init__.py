"""Lab data analysis: readers and fits for impedance, DC polarisation, LSV, cycling, XRD."""
