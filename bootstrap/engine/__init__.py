"""Runs stages as a DAG: plan, apply, gate, with bounded concurrency. Knows no component."""
