"""root_app: the root Application (App-of-Apps) and its repository credentials.

Not available in this version: see stages/_unavailable.py.
"""

from __future__ import annotations

from bootstrap.config import Profile
from stages._unavailable import NotYetAvailable


class RootApp(NotYetAvailable):
    name = "root_app"
    needs = ("argocd",)
    switch = "root_app.enabled"

    def is_enabled(self, profile: Profile) -> bool:
        p = profile
        return bool(p.root_app is not None and p.root_app.enabled)
