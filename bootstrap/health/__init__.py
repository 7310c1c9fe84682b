"""Health verdicts for Kubernetes objects: kstatus rules and what kstatus misses."""
