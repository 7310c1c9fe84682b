"""The stages, and the one list that breaks ties in the DAG's order."""

from __future__ import annotations

from bootstrap.errors import InputError
from bootstrap.profile.schema import Profile
from bootstrap.stage import Stage
from stages.argocd import ArgoCD
from stages.cluster_docker_desktop import ClusterDockerDesktop
from stages.cluster_eks import ClusterEks
from stages.cluster_k3d import ClusterK3d
from stages.cluster_k3s_oci import ClusterK3sOci
from stages.cluster_k3s_ssh import ClusterK3sSsh
from stages.cluster_kind import ClusterKind
from stages.cluster_local import ClusterLocal
from stages.metallb import MetalLB
from stages.root_app import RootApp
from stages.sandbox_repo import SandboxRepo
from stages.sealed_secrets import SealedSecrets
from stages.sync_waves import SyncWaves

# The one list of stages: their order here breaks ties in the DAG. A stage that is not built is
# not named (the profile check says which providers exist).
CLUSTER_STAGES: dict[str, type[Stage]] = {
    "local": ClusterLocal,
    "kind": ClusterKind,
    "k3d": ClusterK3d,
    "docker-desktop": ClusterDockerDesktop,
    "k3s-ssh": ClusterK3sSsh,
    "k3s-oci": ClusterK3sOci,
    "eks": ClusterEks,
}
PLATFORM_STAGES: tuple[type[Stage], ...] = (
    MetalLB,
    SealedSecrets,
    ArgoCD,
    SandboxRepo,
    RootApp,
    SyncWaves,
)
STAGES: tuple[type[Stage], ...] = (*CLUSTER_STAGES.values(), *PLATFORM_STAGES)
ORDER: tuple[str, ...] = tuple(stage.name for stage in STAGES)


def for_profile(profile: Profile) -> list[Stage]:
    """The stages a profile runs: its one cluster stage, then the platform stages."""
    provider = profile.cluster.provider
    cluster_stage = CLUSTER_STAGES.get(provider)
    if cluster_stage is None:
        raise InputError(
            f"cluster provider {provider!r} is not supported by this version of clusterboot",
            hint=f"supported providers: {', '.join(sorted(CLUSTER_STAGES))}",
        )
    return [cluster_stage(), *(stage() for stage in PLATFORM_STAGES)]
