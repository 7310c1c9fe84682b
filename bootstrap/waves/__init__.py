"""Argo CD Applications and the sync-wave walk.

`argo` judges one Application, `tree` finds a root's children, `rules` holds the walk's
decisions, `walk` drives it and `feed` follows the Applications.
"""
