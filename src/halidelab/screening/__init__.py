"""Screening: tasks keyed by content hash, a resumable results store, executors, plans."""
