"""Argo CD: its settings before the root app, and its controllers as local processes."""
