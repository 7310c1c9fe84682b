"""Sealed Secrets: sealing keys (backup, restore, renewal) and the controller as a local process."""
