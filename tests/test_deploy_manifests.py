"""The Kubernetes manifests in deploy/: schema-valid, and consistent with each other and the image.

No cluster runs here, so every document is checked (strictly: unknown fields are errors) against
the Kubernetes OpenAPI JSON schemas that the ``kubernetes-validate`` wheel ships, for the oldest
Kubernetes we support (gRPC probes are GA since 1.27) and the newest the wheel knows. Then the
cross-references a schema cannot see: Services, PDBs and HPAs point at a Deployment that exists,
ports and probe ports agree, the server's arguments parse with the real ``seqzoo serve`` parser,
the uid matches the Dockerfile's user, and the GPU variant asks for ``nvidia.com/gpu``.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
kv = pytest.importorskip("kubernetes_validate")

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
VERSIONS = ["1.29.0", "1.37.0"]


def load_documents() -> list[tuple[str, dict]]:
    """(file:index, document) for every YAML document under deploy/."""
    docs = []
    for path in sorted(DEPLOY.rglob("*.yaml")):
        with path.open() as f:
            for i, doc in enumerate(yaml.safe_load_all(f)):
                if doc is not None:
                    docs.append((f"{path.relative_to(REPO)}:{i}", doc))
    return docs


DOCS = load_documents()


def of_kind(kind: str) -> list[dict]:
    return [d for _, d in DOCS if d["kind"] == kind]


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def deployments_selected_by(selector: dict) -> list[dict]:
    return [d for d in of_kind("Deployment") if matches(selector, d["spec"]["template"]["metadata"]["labels"])]


def server_container(deployment: dict) -> dict:
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "server"]
    return container


def container_ports(container: dict) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container.get("ports", [])}


def test_every_kind_is_there():
    kinds = sorted(d["kind"] for _, d in DOCS)
    assert kinds.count("Deployment") == 2  # CPU and GPU
    assert kinds.count("Service") == 4  # ClusterIP + headless, for each
    assert kinds.count("HorizontalPodAutoscaler") == 2
    assert kinds.count("PodDisruptionBudget") == 2
    assert kinds.count("ConfigMap") == 1


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("where,doc", DOCS, ids=[w for w, _ in DOCS])
def test_schema_valid(where, doc, version):
    kv.validate(doc, version, strict=True)


def test_schema_checker_rejects_bad_manifests():
    """The checker can fail: a typo'd field, a wrong type and a probe without a handler are caught."""
    (_, deployment), = [(w, d) for w, d in DOCS if d["kind"] == "Deployment" and d["metadata"]["name"] == "seqzoo"]
    typo = copy.deepcopy(deployment)
    typo["spec"]["replica"] = 2
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "two"
    bad_probe = copy.deepcopy(deployment)
    server_container(bad_probe)["readinessProbe"]["grpc"]["port"] = "grpc"  # grpc probes take a number only
    for bad, path in ((typo, ["spec"]), (wrong_type, ["spec", "replicas"]),
                      (bad_probe, ["spec", "template", "spec", "containers", 0, "readinessProbe", "grpc", "port"])):
        with pytest.raises(kv.ValidationError) as err:
            kv.validate(bad, VERSIONS[-1], strict=True)
        assert list(err.value.path) == path


def test_deployment_selectors_match_their_pods():
    for d in of_kind("Deployment"):
        assert matches(d["spec"]["selector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"])
    # two Deployments never select each other's pods (a Service or PDB would mix them)
    cpu, gpu = sorted(of_kind("Deployment"), key=lambda d: d["metadata"]["name"])
    assert not matches(cpu["spec"]["selector"]["matchLabels"], gpu["spec"]["template"]["metadata"]["labels"])
    assert not matches(gpu["spec"]["selector"]["matchLabels"], cpu["spec"]["template"]["metadata"]["labels"])


def test_services_reach_exactly_one_deployment_on_declared_ports():
    headless = {}
    for svc in of_kind("Service"):
        targets = deployments_selected_by(svc["spec"]["selector"])
        assert len(targets) == 1, f"Service {svc['metadata']['name']} selects {len(targets)} Deployments"
        ports = container_ports(server_container(targets[0]))
        for port in svc["spec"]["ports"]:
            target = port["targetPort"]
            assert target in ports if isinstance(target, str) else target in ports.values()
            if port["name"] == "grpc":
                assert port.get("appProtocol") == "kubernetes.io/h2c"
        if svc["spec"].get("clusterIP") == "None":
            headless[targets[0]["metadata"]["name"]] = svc
    # every Deployment has a headless Service for round_robin clients
    assert set(headless) == {d["metadata"]["name"] for d in of_kind("Deployment")}


def test_probes_ask_grpc_health_on_the_grpc_port():
    for d in of_kind("Deployment"):
        container = server_container(d)
        grpc_port = container_ports(container)["grpc"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"] == {"port": grpc_port, "service": ""}, (d["metadata"]["name"], probe)


def test_hpa_and_pdb_point_at_deployments():
    names = {d["metadata"]["name"]: d for d in of_kind("Deployment")}
    for hpa in of_kind("HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        assert (ref["apiVersion"], ref["kind"]) == ("apps/v1", "Deployment")
        target = names[ref["name"]]
        # utilisation targets need a CPU request on the container
        assert "cpu" in server_container(target)["resources"]["requests"]
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    for pdb in of_kind("PodDisruptionBudget"):
        (target,) = deployments_selected_by(pdb["spec"]["selector"]["matchLabels"])
        hpa = next(h for h in of_kind("HorizontalPodAutoscaler")
                   if h["spec"]["scaleTargetRef"]["name"] == target["metadata"]["name"])
        assert pdb["spec"]["maxUnavailable"] <= hpa["spec"]["minReplicas"]


def test_pods_run_as_the_images_non_root_user():
    uid = int(re.search(r"useradd --uid (\d+)", (REPO / "Dockerfile").read_text()).group(1))
    assert uid != 0
    for d in of_kind("Deployment"):
        pod = d["spec"]["template"]["spec"]["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == uid
        sc = server_container(d)["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
        mounts = {m["mountPath"] for m in server_container(d)["volumeMounts"]}
        assert {"/models", "/tmp"} <= mounts  # the only writable places under a read-only root


def test_gpu_variant_requests_a_gpu():
    for d in of_kind("Deployment"):
        container = server_container(d)
        gpu = d["metadata"]["labels"]["app.kubernetes.io/component"].endswith("-gpu")
        wants = container["resources"].get("limits", {}).get("nvidia.com/gpu")
        assert (wants == 1) == gpu
        assert container["image"].endswith("-gpu") == gpu
        assert ("--device=cuda" in container["args"]) == gpu


def expanded_args(deployment: dict) -> list[str]:
    """The server's args with $(VAR) replaced from the ConfigMaps the container imports."""
    container = server_container(deployment)
    env = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        (cm,) = [c for c in of_kind("ConfigMap") if c["metadata"]["name"] == name]
        env.update(cm["data"])
    env.update({e["name"]: "secret" for e in container.get("env", [])})

    def sub(match):
        assert match.group(1) in env, f"$({match.group(1)}) is not defined for the container"
        return env[match.group(1)]

    return [re.sub(r"\$\((\w+)\)", sub, a) for a in container["args"]]


def test_server_args_parse_with_the_real_serve_command():
    cli_serve = pytest.importorskip("seqzoo.cli.serve")
    import argparse

    parser = argparse.ArgumentParser(prog="seqzoo serve", exit_on_error=False)
    cli_serve.add_arguments(parser)
    for d in of_kind("Deployment"):
        args = parser.parse_args(expanded_args(d))
        assert int(args.port) == container_ports(server_container(d))["grpc"]
        assert str(args.zoo) == "/models"
        assert args.registry.startswith("s3://")
        # the preStop pause plus the server's drain fit in the pod's termination grace period
        pause = float(server_container(d)["lifecycle"]["preStop"]["exec"]["command"][1])
        assert pause + args.grace_seconds < d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
