"""Argo CD Applications and the sync-wave walk: the app tree, the rules of a wave, the walk and its feed."""
