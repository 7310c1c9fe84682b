"""Profiles: the schema, loading with `extends:` and `--set`, key paths, secret references."""
