"""The Kubernetes manifests (infra/k8s) build and validate offline against the Kubernetes
schemas the ``kubernetes-validate`` package ships (nothing fetched), and wire what the
processes serve: probes on ``/health`` / ``/ready``, Services selecting the pods that serve
them, a PodDisruptionBudget per role."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

K8S = Path(__file__).parent.parent / "infra" / "k8s"
#: The Kubernetes version the manifests are checked against (policy/v1 PDBs: ≥ 1.21).
KUBERNETES_VERSION = "1.30.0"


def render(overlay: str) -> list[dict[str, Any]]:
    spec = importlib.util.spec_from_file_location("kustomize", K8S / "kustomize.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.render(K8S / "overlays" / overlay)


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.mark.parametrize("overlay", ["embedded", "kafka"])
def test_overlay_validates_against_the_kubernetes_schemas(overlay: str) -> None:
    objects = render(overlay)
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    deployments = by_kind(objects, "Deployment")
    services = by_kind(objects, "Service")
    assert by_kind(objects, "PodDisruptionBudget")
    for deployment in deployments.values():
        pod = deployment["spec"]["template"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        container = pod["spec"]["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert "livenessProbe" in container and container["resources"]["requests"]
        assert container["envFrom"][1]["secretRef"]["name"] == "chargelog-secrets"  # no secret in the repo
    for service in services.values():  # every Service reaches some pod, on a named port it has
        selected = [d for d in deployments.values()
                    if service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert selected, service["metadata"]["name"]
        port_names = {p["name"] for d in selected for p in d["spec"]["template"]["spec"]["containers"][0]["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    for pdb in by_kind(objects, "PodDisruptionBudget").values():
        assert any(pdb["spec"]["selector"]["matchLabels"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
                   for d in deployments.values())


def test_kafka_overlay_runs_each_role_apart_on_kafka() -> None:
    objects = render("kafka")
    deployments = by_kind(objects, "Deployment")
    assert set(deployments) == {"chargelog-gateway", "chargelog-projections", "chargelog-api"}
    for name, deployment in deployments.items():
        assert deployment["spec"]["template"]["spec"]["containers"][0]["args"] == ["serve", "--role", name.split("-")[1]]
    assert by_kind(objects, "ConfigMap")["chargelog-config"]["data"]["CHARGELOG_LOG"].startswith("kafka://")
    assert by_kind(objects, "Service")["chargelog-ocpp"]["spec"]["sessionAffinity"] == "ClientIP"
