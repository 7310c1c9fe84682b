"""sync_waves: the child Applications of the root app, wave by wave, with health gates.

Not available in this version: see stages/_unavailable.py.
"""

from __future__ import annotations

from bootstrap.config import Profile
from stages._unavailable import NotYetAvailable


class SyncWaves(NotYetAvailable):
    name = "sync_waves"
    needs = ("root_app",)
    switch = "root_app.enabled"

    def is_enabled(self, profile: Profile) -> bool:
        p = profile
        return bool(p.root_app is not None and p.root_app.enabled)
