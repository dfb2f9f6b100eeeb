"""The deployment files in serving/deploy agree with each other (tests/serving/test_configs.py parses them)."""

from pathlib import Path

import yaml

from serving.model_server import configs

DEPLOY = Path(__file__).resolve().parents[2] / "serving" / "deploy"
CONFIG_FILES = ("models.config", "batching.config", "monitoring.config")


def manifests():
    return {
        path.name: list(yaml.safe_load_all(path.read_text()))
        for path in sorted((DEPLOY / "kubernetes").glob("*.yaml"))
    }


def test_the_config_map_carries_the_same_config_files():
    (config_map,) = manifests()["configmap.yaml"]
    assert set(config_map["data"]) == set(CONFIG_FILES)
    for name in CONFIG_FILES:
        file_lines = [line.split("#")[0].split() for line in (DEPLOY / name).read_text().splitlines()]
        map_lines = [line.split() for line in config_map["data"][name].splitlines()]
        assert [t for line in file_lines for t in line] == [t for line in map_lines for t in line], name


def test_compose_and_kubernetes_run_the_same_server_flags_on_the_config_files():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    service = compose["services"]["tensorflow-serving"]
    (deployment,) = manifests()["deployment.yaml"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert service["command"] == container["args"]
    assert service["image"] == container["image"] == "tensorflow/serving:2.20.0"
    for flag in ("--model_config_file", "--batching_parameters_file", "--monitoring_config_file"):
        (value,) = [arg.split("=", 1)[1] for arg in container["args"] if arg.startswith(flag + "=")]
        assert Path(value).name in CONFIG_FILES and value.startswith("/config/")
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert {"/models", "/config"} <= mounts
    models = configs.read_model_server_config(DEPLOY / "models.config").model_config_list.config
    assert all(model.base_path == f"/models/{model.name}" for model in models)


def test_service_and_autoscaler_target_the_deployment():
    found = manifests()
    (deployment,) = found["deployment.yaml"]
    (service,) = found["service.yaml"]
    (autoscaler,) = found["hpa.yaml"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"] == labels
    assert {port["port"] for port in service["spec"]["ports"]} == {8500, 8501}
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
