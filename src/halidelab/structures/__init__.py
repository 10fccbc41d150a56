"""Structure models: parent frameworks, ordered doped supercells, XRD simulation."""
