"""deploy/: the compose file and Kubernetes manifests have the scale-out shape, and the API's settings
point at the components they define."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from agent.settings import AgentSettings
from retrieval.patients import patient_spec
from service.api.settings import ServeSettings
from service.shared_state import StateSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SETTING_FIELDS = {
    f"CRA_{name.upper()}"
    for name in (*AgentSettings.model_fields, *ServeSettings.model_fields, *StateSettings.model_fields)
}


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _k8s() -> dict[tuple[str, str], dict[str, Any]]:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    found = {}
    for name in kustomization["resources"]:
        for doc in _docs(DEPLOY / "k8s" / name):
            assert {"apiVersion", "kind", "metadata"} <= doc.keys(), (name, doc)
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def _settings_from(env: dict[str, str]) -> AgentSettings:
    """The settings a replica would read from ``env`` (unknown CRA_ names are a typo: fail)."""
    unknown = {k for k in env if k.startswith("CRA_")} - SETTING_FIELDS
    assert not unknown, f"not settings of the service: {unknown}"
    fields = {k.removeprefix("CRA_").lower(): v for k, v in env.items() if k.startswith("CRA_")}
    known = {k: v for k, v in fields.items() if k in AgentSettings.model_fields}
    ServeSettings(**{k: v for k, v in fields.items() if k in ServeSettings.model_fields})
    return AgentSettings(**known)


def _shared_state_url(env: dict[str, str]) -> str:
    """Where a replica with ``env`` keeps the audit chain, rate buckets and jti memory ("" = its own SQLite)."""
    state = StateSettings(state_url=env.get("CRA_STATE_URL", ""), _env_file=None)  # type: ignore[call-arg]
    return state.target(env.get("CRA_CHECKPOINTER_URL", ""))


def _keys_in_shared_state(env: dict[str, str]) -> bool:
    """Whether a replica with ``env`` reads API keys from the shared Postgres (not a file of its own)."""
    keys_db = ServeSettings(api_keys_db=env.get("CRA_API_KEYS_DB"), _env_file=None).api_keys_db  # type: ignore[call-arg]
    return keys_db is None and _shared_state_url(env).startswith("postgresql://")


def _container(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["template"]["spec"]["containers"][0]


def test_compose_has_the_cluster_gpu_llm_postgres_and_api_replicas() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    qdrants = [n for n in services if re.fullmatch(r"qdrant-\d", n)]
    assert len(qdrants) >= 3
    for name in qdrants:
        svc = {**compose["x-qdrant"], **services[name]}
        assert svc["environment"]["QDRANT__CLUSTER__ENABLED"] == "true"
        assert name == "qdrant-0" or "--bootstrap" in svc["command"]
    vllm = services["vllm"]
    assert vllm["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert "/health" in " ".join(vllm["healthcheck"]["test"])
    api = services["api"]
    assert api["deploy"]["replicas"] >= 2 and api["command"][:2] == ["cra", "serve"]
    env = {k: re.sub(r"\$\{[^}]+\}", "x", str(v)) for k, v in api["environment"].items()}
    settings = _settings_from(env)
    assert urlparse(settings.qdrant_url).hostname in qdrants
    assert urlparse(settings.llm_base_url).hostname == "vllm"
    assert settings.checkpointer_url.startswith("postgresql://")
    assert urlparse(settings.checkpointer_url).hostname == "postgres" and "postgres" in services
    # replicas share one audit chain, rate buckets and jti memory: never each its own SQLite
    assert "CRA_STATE_URL" in env and urlparse(_shared_state_url(env)).hostname == "postgres"
    # ... and one set of API keys, in that Postgres: no shared volume, nothing on disk to share
    assert _keys_in_shared_state(env) and "volumes" not in api
    assert "keys" not in compose.get("volumes", {})
    assert "qdrant-init" in api["depends_on"]


def test_collections_are_created_sharded_replicated_and_in_the_service_layout() -> None:
    script = (DEPLOY / "qdrant-collections.sh").read_text()
    spec = patient_spec(384)
    assert f'\\"{spec.dense_name}\\": {{\\"size\\": 384' in script and f'\\"{spec.sparse_name}\\"' in script
    assert '"idf"' in script.replace('\\"', '"')
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    init = compose["services"]["qdrant-init"]["environment"]
    assert int(init["SHARDS"]) > 1 and int(init["REPLICAS"]) > 1
    for collection in (AgentSettings().guideline_collection, AgentSettings().patient_collection):
        assert f"create {collection}" in script


def test_kubernetes_manifests_have_the_scale_out_shape() -> None:
    found = _k8s()
    qdrant = found[("StatefulSet", "qdrant")]
    assert qdrant["spec"]["replicas"] >= 3
    assert {"name": "QDRANT__CLUSTER__ENABLED", "value": "true"} in _container(qdrant)["env"]
    job = _container(found[("Job", "qdrant-collections")])
    job_env = {e["name"]: e.get("value") for e in job["env"]}
    assert int(job_env["SHARDS"]) > 1 and int(job_env["REPLICAS"]) > 1

    vllm = found[("Deployment", "vllm")]
    container = _container(vllm)
    assert container["resources"]["limits"]["nvidia.com/gpu"] >= 1
    assert all(container[p]["httpGet"]["path"] == "/health" for p in ("readinessProbe", "livenessProbe"))
    assert vllm["spec"]["template"]["spec"]["nodeSelector"]

    api = found[("Deployment", "cra-api")]
    assert api["spec"]["replicas"] >= 2
    container = _container(api)
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > 20
    assert ("StatefulSet", "postgres") in found and ("HorizontalPodAutoscaler", "cra-api") in found
    # the API pods share nothing on disk (keys, audit and limits are in Postgres): scratch volumes only,
    # and no ReadWriteMany claim anywhere
    assert all("emptyDir" in v for v in api["spec"]["template"]["spec"].get("volumes", [])), api
    claims = [doc for (kind, _), doc in found.items() if kind == "PersistentVolumeClaim"]
    assert all("ReadWriteMany" not in c["spec"]["accessModes"] for c in claims), claims


def test_api_settings_point_at_the_services_the_manifests_define() -> None:
    found = _k8s()
    env = dict(found[("ConfigMap", "cra-config")]["data"])
    secret = yaml.safe_load((DEPLOY / "k8s" / "secrets.example.yaml").read_text())["stringData"]
    api_env = _container(found[("Deployment", "cra-api")])["env"]
    from_secret = {e["name"] for e in api_env if "valueFrom" in e}
    assert from_secret <= set(secret), "a secret the API reads is missing from secrets.example.yaml"
    env.update({k: secret[k] for k in from_secret})
    settings = _settings_from(env)

    def service_port(url: str) -> tuple[str, int]:
        parsed = urlparse(url)
        assert parsed.hostname and parsed.port, url
        return parsed.hostname, parsed.port

    state_url = _shared_state_url(env)
    assert "CRA_STATE_URL" in env and state_url.startswith("postgresql://"), "replicas need shared state"
    assert _keys_in_shared_state(env), "API keys must be in the shared state, not a per-pod file"
    for url in (settings.qdrant_url, settings.llm_base_url, settings.checkpointer_url, state_url):
        host, port = service_port(url)
        service = found.get(("Service", host))
        assert service is not None, f"{url}: no Service named {host}"
        assert port in [p["port"] for p in service["spec"]["ports"]], url
    model_args = _container(found[("Deployment", "vllm")])["args"]
    assert model_args[model_args.index("--served-model-name") + 1] == settings.llm_model


@pytest.mark.parametrize("path", sorted((DEPLOY / "k8s").glob("*.yaml")), ids=lambda p: p.name)
def test_every_manifest_parses(path: Path) -> None:
    assert _docs(path)
