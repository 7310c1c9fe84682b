"""The typed, frozen shape of a profile. Loading, merging and error wording live in ``profile``.

Every model forbids unknown keys, so a typo is an error that names the key, not a silent no-op.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bootstrap.secrets import Secret

Provider = Literal["local", "kind", "k3d", "k3s-ssh", "k3s-oci", "eks", "docker-desktop"]
Version = Annotated[str, Field(pattern=r"^v\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Port = Annotated[int, Field(ge=1, le=65535)]
Name = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
Word = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$", max_length=253)]
"""One word that becomes part of a file name (a chart's name and version): never a `/`."""
AwsRegion = Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$", max_length=32)]
EksVersion = Annotated[str, Field(pattern=r"^1\.\d{1,2}$")]
Ec2Type = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$", max_length=64)]
CliProfile = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,63}$")]
"""A CLI's config profile name: never an option (``--…``), a space or shell syntax."""
Ocid = Annotated[
    str,
    Field(pattern=r"^ocid1\.[a-z0-9]+\.[a-z0-9-]+\.[a-z0-9-]*(\.[a-z0-9-]*)?\.[a-z0-9]{1,255}$"),
]
"""Oracle's ``ocid1.<resource type>.<realm>.[region][.future use].<unique id>``."""
OciShape = Annotated[str, Field(pattern=r"^(VM|BM)\.[A-Za-z0-9][A-Za-z0-9.]*$", max_length=64)]
AvailabilityDomain = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")]
SanEntry = Annotated[
    str, Field(pattern=r"^((\*\.)?[A-Za-z0-9][A-Za-z0-9.-]{0,252}|[0-9A-Fa-f:.]+)$")
]
"""A name or address a k3s server certificate holds (``--tls-san``)."""
_HOST = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}")  # a DNS name or an IPv4 address
_IPV6 = re.compile(r"[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?")  # Python takes any zone after '%'
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class SecretRef(Model):
    """Where a secret comes from; the profile loader resolves it into ``value``."""

    env: str | None = None
    file: str | None = None
    value: Secret | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _exactly_one_source(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret reference needs exactly one of `env` or `file`")
        return self

    def reveal(self) -> str:
        if self.value is None:
            raise ValueError("secret reference was not resolved")
        return self.value.reveal()


class ManifestSource(Model):
    url: str
    sha256: Sha256

    @field_validator("url")
    @classmethod
    def _https_or_file(cls, url: str) -> str:
        if not url.startswith(("https://", "file://")):
            raise ValueError("must start with https:// or file://")
        return url


class ChartSource(Model):
    """A packaged Helm chart from a chart repository (one with an ``index.yaml``)."""

    repository: str
    chart: Word
    version: Word
    """The chart's own version (as in the repository index), not the application's."""
    sha256: Sha256 | None = None
    """The packaged chart's sha256; without it, the repository index's digest is trusted and
    recorded on first use."""
    values: dict[str, JsonValue] = Field(default_factory=dict)
    """Written as JSON for `helm template`: strings, numbers, booleans, lists and mappings."""

    @field_validator("repository")
    @classmethod
    def _https_or_file(cls, url: str) -> str:
        if url.startswith("oci://"):
            raise ValueError(
                "OCI registries are not supported; give the chart's https:// repository"
            )
        if not url.startswith(("https://", "file://")):
            raise ValueError("must start with https:// or file://")
        return url


class Component(Model):
    """What every platform component has: a switch, and where its pinned manifest comes from."""

    enabled: bool = True
    source: ManifestSource | None = None
    chart: ChartSource | None = None
    """A Helm chart instead of ``source``: rendered with ``helm template``, applied like a
    manifest."""

    @model_validator(mode="after")
    def _one_source(self) -> Component:
        if self.source is not None and self.chart is not None:
            raise ValueError("give `source` (a manifest) or `chart` (a Helm chart), not both")
        return self


class LocalCluster(Model):
    kubernetes_version: Version = "v1.36.1"
    etcd_version: Version = "v3.6.16"
    kwok_version: Version = "v0.8.0"
    api_port: Port = 6443
    nodes: Annotated[int, Field(ge=1, le=100)] = 2
    node_cpu: str = "16"
    node_memory: str = "64Gi"
    node_pods: Annotated[int, Field(ge=1, le=10000)] = 250
    isolation: Literal["netns", "none"] = "netns"
    binaries_dir: LocalPath | None = None
    audit_log: bool = False
    """kube-apiserver writes every request it answers (metadata only: who, what, which client)
    to ``local-cluster/logs/audit.log``, one JSON event per line."""


class KindCluster(Model):
    node_image: str | None = None
    config: LocalPath | None = None


K3sArg = Annotated[
    str, Field(pattern=r"^--[a-z0-9][-a-z0-9]*(=[^\s]*)?(@[^\s]+)?$", max_length=1024)
]
"""One k3s flag as k3d's ``--k3s-arg`` takes it: ``--flag[=value][@nodefilter]``."""


class K3dCluster(Model):
    servers: Annotated[int, Field(ge=1, le=7)] = 1
    agents: Annotated[int, Field(ge=0, le=50)] = 0
    image: str | None = None
    api_port: Port | None = None
    load_balancer: bool = True
    """k3d's load balancer container in front of the servers (``--no-lb`` when false)."""
    k3s_args: list[K3sArg] = Field(default_factory=list)
    """Extra k3s flags, passed as ``--k3s-arg`` (``--disable=traefik@server:*``)."""


_MIRROR = re.compile(r"^https?://[A-Za-z0-9_.\[\]:-]+(:\d{1,5})?$")


def _registry_mirror(url: str | None) -> str | None:
    """A registry's base URL (scheme, host, port; no path, user or query), or None for ''."""
    if not url:
        return None
    if not _MIRROR.match(url):
        raise ValueError(
            "must be a registry's base URL such as http://127.0.0.1:5000 or "
            "https://mirror.example.com (no path, user, password or query)"
        )
    return url.rstrip("/")


def _host_name(host: str) -> str:
    """A host name or IP address: never an option, a `user@`, a URL or shell syntax (ssh before
    9.6 puts the name into the shell of a ProxyCommand or Match exec that says %h)."""
    if _HOST.fullmatch(host) or (_IPV6.fullmatch(host) and _is_ip(host)):
        return host
    raise ValueError("expected a host name or an IP address (letters, digits, '.', '-', '_')")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _user_name(user: str) -> str:
    if not _USER.fullmatch(user):
        raise ValueError("expected a user name (letters, digits, '.', '-', '_')")
    return user


Host = Annotated[str, AfterValidator(_host_name)]
User = Annotated[str, AfterValidator(_user_name)]


def _home_known(path: str) -> str:
    """``~user/...`` for a user this machine has (pathlib raises RuntimeError on the others)."""
    try:
        Path(path).expanduser()
    except RuntimeError:
        raise ValueError(
            "starts with ~user for a user this machine does not have; write the path out"
        ) from None
    return path


LocalPath = Annotated[str, AfterValidator(_home_known)]
"""A file or directory on this machine; ``~`` and ``~user`` expand."""


class SshTarget(Model):
    host: Host
    user: User = "root"
    port: Port = 22
    identity_file: LocalPath | None = None
    known_hosts: LocalPath | None = None
    accept_new_host_key: bool = False


class K3sAirgap(Model):
    """The k3s binary and its images tarball, uploaded instead of downloaded on the host
    (``INSTALL_K3S_SKIP_DOWNLOAD=true``); with ``artifacts.dir`` they come from the bundle."""

    binary: ManifestSource
    images: ManifestSource | None = None


class K3sSshCluster(Model):
    ssh: SshTarget
    k3s_version: Version = "v1.33.5+k3s1"
    install_script: ManifestSource | None = None
    """The k3s install script, pinned (url and sha256); needed to install or upgrade."""
    extra_args: tuple[str, ...] = ()
    api_port: Port = 6443
    tls_san: tuple[SanEntry, ...] = ()
    """Addresses clients use besides ``ssh.host`` (which is always a SAN)."""
    sudo_password: SecretRef | None = None
    """For a user whose sudo asks for a password; it reaches sudo on stdin only."""
    agents: tuple[SshTarget, ...] = ()
    airgap: K3sAirgap | None = None


class OciSsh(Model):
    """SSH to the instance: its address is found after the launch (``host`` only to attach to
    one launched by hand); its host key is trusted on first contact and kept in the state
    directory, and a changed one is refused."""

    host: Host | None = None
    user: User = "ubuntu"
    port: Port = 22
    identity_file: LocalPath = "~/.ssh/id_ed25519"
    public_key_file: LocalPath | None = None
    """Authorized on the instance at launch; ``identity_file`` + ``.pub`` by default."""


class K3sOciCluster(Model):
    compartment_id: Ocid
    availability_domain: AvailabilityDomain
    subnet_id: Ocid
    image_id: Ocid
    shape: OciShape = "VM.Standard.A1.Flex"
    ocpus: Annotated[int, Field(ge=1, le=64)] = 2
    memory_gbs: Annotated[int, Field(ge=1, le=1024)] = 12
    ssh: OciSsh = Field(default_factory=OciSsh)
    k3s_version: Version = "v1.33.5+k3s1"
    install_script: ManifestSource | None = None
    """The k3s install script, pinned: cloud-init runs it on the instance's first boot."""
    extra_args: tuple[str, ...] = ()
    api_port: Port = 6443
    launch: bool = True
    """False: write the user-data for a launch by hand, and attach once ``ssh.host`` answers."""
    oci_profile: CliProfile | None = None
    """The `oci` CLI's config profile (``--profile``); its DEFAULT one otherwise."""


class EksCluster(Model):
    region: AwsRegion
    kubernetes_version: EksVersion = "1.33"
    node_type: Ec2Type = "m6i.large"
    nodes: Annotated[int, Field(ge=1, le=100)] = 2
    aws_profile: CliProfile | None = None


class Cluster(Model):
    provider: Provider
    name: Name
    context: str | None = None
    attach: bool = False
    kubeconfig: LocalPath | None = None
    ephemeral: bool = False
    lb_range: str | None = None
    registry_mirror: Annotated[str | None, AfterValidator(_registry_mirror)] = None
    """A registry that holds every upstream registry's images under a path named after its
    host (``MIRROR/quay.io/argoproj/argocd``): kind and k3d nodes pull docker.io, quay.io,
    ghcr.io, public.ecr.aws and registry.k8s.io images from it."""
    local: LocalCluster = Field(default_factory=LocalCluster)
    kind: KindCluster = Field(default_factory=KindCluster)
    k3d: K3dCluster = Field(default_factory=K3dCluster)
    k3s_ssh: K3sSshCluster | None = None
    k3s_oci: K3sOciCluster | None = None
    eks: EksCluster | None = None

    @field_validator("lb_range")
    @classmethod
    def _valid_range(cls, value: str | None) -> str | None:
        if value is not None:
            parse_address_range(value)
        return value

    @model_validator(mode="after")
    def _provider_settings_present(self) -> Cluster:
        needed = {"k3s-ssh": self.k3s_ssh, "k3s-oci": self.k3s_oci, "eks": self.eks}
        if self.provider in needed and needed[self.provider] is None:
            key = self.provider.replace("-", "_")
            raise ValueError(f"provider {self.provider!r} needs a `cluster.{key}` section")
        return self


class MetalLB(Component):
    version: Version = "v0.15.2"
    mode: Literal["manifests", "processes"] = "manifests"
    """processes: the controller built by `make binaries` runs as a local process, assigning
    addresses (and, beside the local cluster, serving the webhooks). For clusters that only
    simulate pods: the local one, or a stand-in whose API server is on this machine."""
    address_pool: str | None = None
    probe: bool | None = None
    """A LoadBalancer Service that must receive an address: None = wherever a load balancer
    can work (on the local cluster only with the controller as a process)."""

    @field_validator("address_pool")
    @classmethod
    def _valid_pool(cls, value: str | None) -> str | None:
        if value is not None:
            parse_address_range(value)
        return value


class ArgoCD(Component):
    version: Version = "v3.2.11"
    mode: Literal["manifests", "processes"] = "manifests"
    namespace: Name = "argocd"
    sync_timeout_seconds: Annotated[int, Field(ge=0, le=86400)] = 600
    """Argo CD terminates a sync operation still running after this long, so a hook that
    hangs does not hold its app forever (``controller.sync.timeout.seconds``; Argo CD's own
    default, 0, means never). A value the manifest or chart already sets is kept."""


class SealedSecrets(Component):
    version: Version = "v0.36.6"
    mode: Literal["manifests", "processes"] = "manifests"
    """processes: the controller built by `make binaries` runs as a local process (for
    clusters that only simulate pods, with their API server on this machine)."""
    namespace: Name = "kube-system"
    key_backup: LocalPath | None = None
    """An age-encrypted key backup (`invoke backup`) restored before the controller starts."""
    age_identity: LocalPath | None = None
    """An age identity file (age-keygen, mode 0600) that decrypts key backups and whose public
    key encrypts new ones; else the file named by $CLUSTERBOOT_AGE_IDENTITY."""
    backup_recipients: tuple[str, ...] = ()
    """More age recipients (age1...) every backup is also encrypted to, e.g. an offline key."""


class Components(Model):
    metallb: MetalLB = Field(default_factory=MetalLB)
    argocd: ArgoCD = Field(default_factory=ArgoCD)
    sealed_secrets: SealedSecrets = Field(default_factory=SealedSecrets)


class RepoCredentials(Model):
    username: SecretRef | None = None
    password: SecretRef | None = None
    ssh_private_key: SecretRef | None = None


class Destination(Model):
    server: str = "https://kubernetes.default.svc"
    namespace: str = "argocd"


CREDENTIALS_IN_URL = "credentials_in_url"
"""The error type of a URL that holds a password: its value is never shown."""
_URL_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@?#]*:[^/@?#]*@")
_CREDENTIAL_NAME = re.compile(
    r"token|secret|passw|pwd|auth|sig|credential|key|private|pat$|^pat|session|bearer", re.I
)
"""Names of query parameters that carry a credential (``?token=``, ``?private_token=``,
``?access_token=``, ``?sig=``, ``?X-Amz-Credential=``...)."""


class RootApp(Model):
    enabled: bool = True
    name: Name = "root"
    repo_url: str
    target_revision: str = "HEAD"
    path: str = "."
    project: Name = "default"
    destination: Destination = Field(default_factory=Destination)
    credentials: RepoCredentials | None = None

    @field_validator("repo_url")
    @classmethod
    def _no_password(cls, url: str) -> str:
        """A password in the URL would be in the Application for anyone who can read it, and
        in every message that names the repository (it is no secret field, so not masked)."""
        if _URL_PASSWORD.match(url):
            raise PydanticCustomError(
                CREDENTIALS_IN_URL,
                "holds a password (user:password@ in the URL; not shown): give the URL "
                "without it and the password as root_app.credentials.password "
                "({env: NAME} or {file: path}), with root_app.credentials.username",
            )
        query = url.partition("#")[0].partition("?")[2]
        for name in (part.partition("=")[0] for part in query.split("&") if part):
            if _CREDENTIAL_NAME.search(urllib.parse.unquote_plus(name)):
                raise PydanticCustomError(
                    CREDENTIALS_IN_URL,
                    "holds a credential in its query string (?{name}=…; not shown): give the "
                    "URL without it and the token as root_app.credentials.password "
                    "({{env: NAME}} or {{file: path}}), with root_app.credentials.username",
                    {"name": urllib.parse.unquote_plus(name)[:40]},
                )
        return url


class Waves(Model):
    deadline_seconds: Annotated[int, Field(ge=1, le=86400)] = 900
    per_wave_seconds: dict[int, Annotated[int, Field(ge=1, le=86400)]] = Field(default_factory=dict)
    progressing_grace_seconds: Annotated[int, Field(ge=0, le=86400)] = 300
    refresh_after_seconds: Annotated[float, Field(ge=0, le=3600)] = 10.0
    """Pause between two refreshes of one app (and before the first, for stale status)."""
    max_refreshes: Annotated[int, Field(ge=0, le=100)] = 3
    """Hard refreshes per app before a ComparisonError that persists fails the walk; also the
    most normal refreshes asked of an app whose Progressing health looks stale."""
    recheck_after_seconds: Annotated[float, Field(ge=0, le=3600)] = 15.0
    """A Synced but Progressing app Argo CD has not reconciled for this long gets a normal
    refresh: its health may have been assessed before its resources settled."""
    max_sync_attempts: Annotated[int, Field(ge=0, le=100)] = 2
    """Explicit sync operations per app when auto-sync will not retry the same commit."""


class Timeouts(Model):
    stage_seconds: Annotated[int, Field(ge=1, le=86400)] = 600
    command_seconds: Annotated[int, Field(ge=1, le=86400)] = 900


class Artifacts(Model):
    dir: LocalPath | None = None
    cache_dir: LocalPath | None = None


class Profile(Model):
    name: Name
    source: str = Field(default="", exclude=True)
    cluster: Cluster
    components: Components = Field(default_factory=Components)
    root_app: RootApp | None = None
    waves: Waves = Field(default_factory=Waves)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    artifacts: Artifacts = Field(default_factory=Artifacts)
    state_dir: LocalPath | None = None
    concurrency: Annotated[int, Field(ge=1, le=16)] = 2

    def root_app_skipped(self) -> str | None:
        """Why the root app is not applied, or None when it is. Without Argo CD installed by
        clusterboot it is applied only when ``root_app.enabled: true`` says so explicitly (an
        Argo CD already in the cluster): turning Argo CD off turns off what needs it."""
        root = self.root_app
        if root is None:
            return "no root app in the profile"
        if not root.enabled:
            return "not enabled in the profile (root_app.enabled)"
        if not self.components.argocd.enabled and "enabled" not in root.model_fields_set:
            return (
                "components.argocd is disabled (set root_app.enabled: true to apply it to an "
                "Argo CD already in the cluster)"
            )
        return None


MAX_POOL = 1 << 16
"""Addresses a load-balancer pool may hold (a /16): a wider one is a typo, not a pool."""
NEVER_ASSIGNED = {
    ipaddress.IPv4Network("0.0.0.0/8"): "'this network'",
    ipaddress.IPv4Network("127.0.0.0/8"): "loopback",
    ipaddress.IPv4Network("169.254.0.0/16"): "link-local",
    ipaddress.IPv4Network("224.0.0.0/4"): "multicast",
    ipaddress.IPv4Network("240.0.0.0/4"): "reserved and broadcast",
}
"""Blocks no Service can be given an address from."""


def parse_address_range(text: str) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """Accept ``a.b.c.d-e.f.g.h`` or a CIDR; return first and last address (IPv4 only). A
    range wider than MAX_POOL, or one that touches a block in NEVER_ASSIGNED, is refused."""
    text = text.strip()
    if "-" in text:
        first_text, _, last_text = text.partition("-")
        first = ipaddress.IPv4Address(first_text.strip())
        last = ipaddress.IPv4Address(last_text.strip())
        if int(last) < int(first):
            raise ValueError(f"range {text!r} ends before it starts")
    else:
        network = ipaddress.IPv4Network(text, strict=True)
        first, last = network[0], network[-1]
    size = int(last) - int(first) + 1
    if size > MAX_POOL:
        raise ValueError(
            f"{text!r} holds {size:,} addresses; a pool holds at most {MAX_POOL:,} (a /16)"
        )
    for block, what in NEVER_ASSIGNED.items():
        if int(first) <= int(block[-1]) and int(block[0]) <= int(last):
            raise ValueError(f"{text!r} reaches into {block} ({what} addresses)")
    return first, last
