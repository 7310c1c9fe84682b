"""argocd: Argo CD, server-side applied into its namespace and health-gated.

Not available in this version: see stages/_unavailable.py.
"""

from __future__ import annotations

from bootstrap.config import Profile
from stages._unavailable import NotYetAvailable


class ArgoCD(NotYetAvailable):
    name = "argocd"
    needs = ("cluster",)
    switch = "components.argocd.enabled"

    def is_enabled(self, profile: Profile) -> bool:
        p = profile
        return bool(p.components.argocd.enabled)
