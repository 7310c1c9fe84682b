"""A GitOps repository served from this machine: ``repo_url: sandbox:DIR`` in a profile means
"publish DIR (relative to the profile's repository) as a local git repository and let Argo CD
read it": through ``file://`` when Argo CD runs on this machine, from a git server in the
cluster when it runs there as pods (bootstrap/components/sandbox/server.py).

Child Applications in DIR may say ``repoURL: REPO_URL``; publishing fills in the real URL.
Secrets marked for sealing are published as SealedSecrets (bootstrap/components/sandbox/seal.py).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import yaml

from bootstrap.components.sandbox import seal, server
from bootstrap.errors import InputError
from bootstrap.processes.runner import Runner
from bootstrap.waves import argo

SCHEME = "sandbox:"
PLACEHOLDER = "REPO_URL"
REPO_ROOT = Path(__file__).resolve().parents[3]
_AUTHOR = ["-c", "user.name=clusterboot", "-c", "user.email=clusterboot@localhost"]


def is_sandbox(repo_url: str) -> bool:
    return repo_url.startswith(SCHEME)


def source_dir(repo_url: str) -> Path:
    path = Path(repo_url[len(SCHEME) :])
    path = path if path.is_absolute() else REPO_ROOT / path
    if not path.is_dir():
        raise InputError(
            f"root_app.repo_url: {repo_url}: {path} is not a directory",
            hint="point sandbox: at a directory holding the GitOps repository",
        )
    return path


def repo_dir(state_dir: Path) -> Path:
    return state_dir / "gitops-sandbox"


def effective_url(repo_url: str, state_dir: Path, in_cluster: str | None = None) -> str:
    """What Argo CD is given: for a sandbox, the in-cluster server's URL when it is served in
    the cluster (``in_cluster``: Argo CD's namespace, server.served_in), else the file:// URL;
    a remote URL as it is."""
    if not is_sandbox(repo_url):
        return repo_url
    return server.url(in_cluster) if in_cluster else f"file://{repo_dir(state_dir)}"


def rendered(source: Path, url: str) -> dict[str, bytes]:
    """Every file of ``source`` as it will be committed (REPO_URL replaced)."""
    files: dict[str, bytes] = {}
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix in {".yaml", ".yml"}:
            data = data.replace(PLACEHOLDER.encode(), url.encode())
        files[str(path.relative_to(source))] = data
    return files


def digest(files: dict[str, bytes], seal_key: str = "") -> str:
    """What a publication holds: the files before sealing, and the key that seals them."""
    sha = hashlib.sha256(seal_key.encode())
    for name, data in files.items():
        sha.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return sha.hexdigest()


def published_digest(target: Path) -> str | None:
    marker = target / ".git" / "clusterboot-digest"
    return marker.read_text().strip() if marker.is_file() else None


def publish(
    repo_url: str,
    state_dir: Path,
    runner: Runner,
    sealer: seal.KubesealSealer | None = None,
    in_cluster: str | None = None,
) -> str:
    """Make the local repository hold exactly the source tree in one new commit, its marked
    Secrets sealed by ``sealer``; the URL Argo CD reads it at."""
    target = repo_dir(state_dir)
    url = effective_url(repo_url, state_dir, in_cluster)
    plain = rendered(source_dir(repo_url), url)
    marked = seal.files_to_seal(plain)
    if marked and sealer is None:
        raise InputError(f"{', '.join(marked)} hold Secrets to seal, and no sealing key is at hand")
    files = seal.seal_files(plain, sealer) if sealer is not None else plain
    if not (target / ".git").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        runner.run(["git", "init", "-q", "-b", "main", str(target)])
    for child in target.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    for name, data in files.items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(data)
    git = ["git", "-C", str(target)]
    runner.run([*git, "add", "-A"])
    runner.run([*git, *_AUTHOR, "commit", "-q", "--allow-empty", "-m", "published by clusterboot"])
    seal_key = sealer.cert_id if sealer is not None and marked else ""
    (target / ".git" / "clusterboot-digest").write_text(digest(plain, seal_key) + "\n")
    return url


def published_revision(state_dir: Path, runner: Runner) -> str | None:
    """The commit the local repository serves (None before the first publication)."""
    target = repo_dir(state_dir)
    if published_digest(target) is None:
        return None
    result = runner.run(["git", "-C", str(target), "rev-parse", "HEAD"], check=False)
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


def expected_revisions(
    repo_url: str, state_dir: Path, runner: Runner, in_cluster: str | None = None
) -> dict[str, str]:
    """repoURL -> commit for the repository clusterboot publishes itself: Argo CD's apps must
    have compared that commit (a re-publication is news Argo CD only hears by polling)."""
    if not is_sandbox(repo_url):
        return {}
    revision = published_revision(state_dir, runner)
    return {effective_url(repo_url, state_dir, in_cluster): revision} if revision else {}


RENDERED_BY_TOOLS = ("kustomization.yaml", "kustomization.yml", "Kustomization", "Chart.yaml")
MAX_ROOT_FILE = 1 << 20  # bytes: a root's Application file is small; larger ones are skipped


def root_children(repo_url: str, path: str, namespace: str) -> dict[str, int] | None:
    """The child Applications the root would list after publishing the sandbox as it is now:
    name -> wave, read from the plain YAML files of ``path`` (as Argo CD reads a directory
    source, not recursing), in Argo CD's ``namespace`` (the ones the walk follows). None when
    that cannot be known here: not a sandbox, or a root rendered by Kustomize or Helm."""
    if not is_sandbox(repo_url):
        return None
    directory = source_dir(repo_url) / path
    if not directory.is_dir() or any((directory / n).exists() for n in RENDERED_BY_TOOLS):
        return None
    found: dict[str, int] = {}
    for file in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        if file.stat().st_size > MAX_ROOT_FILE:
            continue
        try:
            docs = list(yaml.safe_load_all(file.read_text(errors="replace")))
        except yaml.YAMLError:
            continue  # Argo CD reports it (a ComparisonError): the walk names it
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == argo.KIND:
                meta = doc.get("metadata") or {}
                name = meta.get("name")
                if isinstance(name, str) and meta.get("namespace") in {None, "", namespace}:
                    found[name] = argo.wave_of(doc)
    return found
