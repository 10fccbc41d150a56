"""Figures and a self-contained HTML report."""
