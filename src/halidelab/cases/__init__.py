"""Case studies: published systems reproduced end to end with their measured data.

- :mod:`halidelab.cases.chen2025`: Nb-substituted Li2ZrCl6 (Chen et al., ChemComm 2025),
  the reference case (``halidelab reproduce chen2025``).
"""
