"""Manifests shaped like the upstream ones (same names, namespaces, kinds, CRDs, webhook
configuration, images and labels), written here so the integration tier installs the platform
stages offline. Minimal but faithful where the stages look: not copies of upstream files.

``serve`` writes one to a file and returns the profile ``source`` for it (file:// URL, sha256).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]
OPEN_SCHEMA = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def crd(
    group: str,
    plural: str,
    kind: str,
    versions: list[str],
    *,
    scope: str = "Namespaced",
    status: bool = True,
) -> Doc:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {
                "plural": plural,
                "singular": kind.lower(),
                "kind": kind,
                "listKind": f"{kind}List",
            },
            "versions": [
                {
                    "name": v,
                    "served": True,
                    "storage": i == len(versions) - 1,
                    "schema": {"openAPIV3Schema": OPEN_SCHEMA},
                    **({"subresources": {"status": {}}} if status else {}),
                }
                for i, v in enumerate(versions)
            ],
        },
    }


def workload(
    kind: str, name: str, namespace: str | None, labels: dict[str, str], image: str, **spec: Any
) -> Doc:
    meta: Doc = {"name": name, "labels": dict(labels)}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": meta,
        "spec": {
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
            **spec,
        },
    }


def plain(kind: str, name: str, namespace: str | None = None, api: str = "v1", **body: Any) -> Doc:
    meta: Doc = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": api, "kind": kind, "metadata": meta, **body}


def rbac(name: str, namespace: str | None, account: str, account_ns: str) -> list[Doc]:
    scope = "Role" if namespace else "ClusterRole"
    api = "rbac.authorization.k8s.io/v1"
    rules = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}]
    return [
        plain(scope, name, namespace, api, rules=rules),
        plain(
            f"{scope}Binding",
            name,
            namespace,
            api,
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": scope, "name": name},
            subjects=[{"kind": "ServiceAccount", "name": account, "namespace": account_ns}],
        ),
    ]


# -- MetalLB (config/manifests/metallb-native.yaml) -----------------------------------------
def metallb(version: str, *, webhook_url: str, ca_bundle: str) -> list[Doc]:
    ns = "metallb-system"
    psa = {f"pod-security.kubernetes.io/{m}": "privileged" for m in ("audit", "enforce", "warn")}
    controller = {"app": "metallb", "component": "controller"}
    speaker = {"app": "metallb", "component": "speaker"}
    hooks = [("ipaddresspool", "ipaddresspools"), ("l2advertisement", "l2advertisements")]
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": psa}},
        crd("metallb.io", "ipaddresspools", "IPAddressPool", ["v1beta1"]),
        crd("metallb.io", "l2advertisements", "L2Advertisement", ["v1beta1"]),
        plain("ServiceAccount", "controller", ns),
        plain("ServiceAccount", "speaker", ns),
        *rbac("metallb-system:controller", None, "controller", ns),
        plain("Secret", "metallb-webhook-cert", ns),
        plain(
            "Service",
            "metallb-webhook-service",
            ns,
            spec={
                "ports": [{"port": 443, "targetPort": 9443}],
                "selector": {"component": "controller"},
            },
        ),
        workload(
            "Deployment", "controller", ns, controller, f"quay.io/metallb/controller:{version}"
        ),
        workload("DaemonSet", "speaker", ns, speaker, f"quay.io/metallb/speaker:{version}"),
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "metallb-webhook-configuration"},
            "webhooks": [
                {
                    "name": f"{single}validationwebhook.metallb.io",
                    # Upstream points at metallb-webhook-service; kwok pods never serve, so the
                    # test's own webhook (inside the cluster's namespace) stands in for them.
                    "clientConfig": {
                        "url": f"{webhook_url}/validate-metallb-io-v1beta1-{single}",
                        "caBundle": ca_bundle,
                    },
                    "rules": [
                        {
                            "apiGroups": ["metallb.io"],
                            "apiVersions": ["v1beta1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": [plural],
                        }
                    ],
                    "failurePolicy": "Fail",
                    "sideEffects": "None",
                    "admissionReviewVersions": ["v1"],
                    "timeoutSeconds": 5,
                }
                for single, plural in hooks
            ],
        },
    ]


# -- Argo CD (manifests/install.yaml: namespaced objects carry no namespace) ----------------
def argocd(version: str) -> list[Doc]:
    image = f"quay.io/argoproj/argocd:{version}"

    def labels(name: str) -> dict[str, str]:
        return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "argocd"}

    docs = [
        crd("argoproj.io", "applications", "Application", ["v1alpha1"]),
        crd("argoproj.io", "applicationsets", "ApplicationSet", ["v1alpha1"]),
        crd("argoproj.io", "appprojects", "AppProject", ["v1alpha1"]),
        plain("ServiceAccount", "argocd-server"),
        plain("ServiceAccount", "argocd-application-controller"),
        *rbac("argocd-server", None, "argocd-server", "argocd"),
        *rbac("argocd-application-controller", None, "argocd-application-controller", "argocd"),
        {
            **plain("ConfigMap", "argocd-cm"),
            "metadata": {"name": "argocd-cm", "labels": labels("argocd-cm")},
            "data": {
                "resource.customizations.ignoreResourceUpdates.all": "jsonPointers:\n  - /status\n"
            },
        },
        plain("ConfigMap", "argocd-rbac-cm"),
        plain("Secret", "argocd-secret", type="Opaque"),
        plain(
            "Service",
            "argocd-server",
            spec={"ports": [{"port": 80, "targetPort": 8080}], "selector": labels("argocd-server")},
        ),
    ]
    for name, img in (
        ("argocd-server", image),
        ("argocd-repo-server", image),
        ("argocd-redis", "public.ecr.aws/docker/library/redis:8.2.2-alpine"),
        ("argocd-applicationset-controller", image),
    ):
        docs.append(workload("Deployment", name, None, labels(name), img))
    docs.append(
        workload(
            "StatefulSet",
            "argocd-application-controller",
            None,
            labels("argocd-application-controller"),
            image,
            replicas=1,
            serviceName="argocd-application-controller",
        )
    )
    return docs


# -- Sealed Secrets (the release's controller.yaml) -----------------------------------------
def sealed_secrets(version: str, *, crd_text: str | None = None) -> list[Doc]:
    ns, name = "kube-system", "sealed-secrets-controller"
    sealed = (
        yaml.safe_load(crd_text)
        if crd_text
        else crd("bitnami.com", "sealedsecrets", "SealedSecret", ["v1alpha1"])
    )
    unsealer = [
        {
            "apiGroups": ["bitnami.com"],
            "resources": ["sealedsecrets"],
            "verbs": ["get", "list", "watch"],
        },
        {"apiGroups": ["bitnami.com"], "resources": ["sealedsecrets/status"], "verbs": ["update"]},
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "verbs": ["get", "list", "create", "update", "delete", "watch"],
        },
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]},
    ]
    api = "rbac.authorization.k8s.io/v1"
    ref = {"apiGroup": "rbac.authorization.k8s.io"}
    subject = [{"kind": "ServiceAccount", "name": name, "namespace": ns}]
    return [
        sealed,
        plain("ServiceAccount", name, ns),
        plain("ClusterRole", "secrets-unsealer", None, api, rules=unsealer),
        plain(
            "ClusterRoleBinding",
            name,
            None,
            api,
            roleRef={**ref, "kind": "ClusterRole", "name": "secrets-unsealer"},
            subjects=subject,
        ),
        plain(
            "Role",
            "sealed-secrets-key-admin",
            ns,
            api,
            rules=[{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "list"]}],
        ),
        plain(
            "RoleBinding",
            "sealed-secrets-controller",
            ns,
            api,
            roleRef={**ref, "kind": "Role", "name": "sealed-secrets-key-admin"},
            subjects=subject,
        ),
        plain(
            "Service",
            name,
            ns,
            spec={"ports": [{"port": 8080, "targetPort": 8080}], "selector": {"name": name}},
        ),
        workload(
            "Deployment",
            name,
            ns,
            {"name": name},
            f"docker.io/bitnami/sealed-secrets-controller:{version.lstrip('v')}",
        ),
    ]


def serve(docs: list[Doc], path: Path) -> dict[str, str]:
    """Write ``docs`` as one YAML stream; the profile source (file:// URL and sha256) for it."""
    text = yaml.safe_dump_all(docs, sort_keys=False)
    path.write_text(text)
    return {"url": path.resolve().as_uri(), "sha256": hashlib.sha256(text.encode()).hexdigest()}
