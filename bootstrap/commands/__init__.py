"""What each task does: up, plan, status, down, ci, dr, backup, bundle, report.

The only importer of `stages`.
"""
