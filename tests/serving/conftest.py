"""The model server most serving tests share (one per session).

`main_server` serves, from a --model_config_file, the TF2 `text` model (versions
1 and 2, labels stable=1 and canary=2) and the TF1 `examples` model, with REST
and Prometheus monitoring on.
"""

import pytest

from tests.serving import saved_models
from tests.serving.model_servers import ModelServer


@pytest.fixture(scope="session")
def main_server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("main_server")
    saved_models.write_text_model(directory / "text", 1)
    saved_models.write_text_model(directory / "text", 2)
    saved_models.write_examples_model(directory / "examples", 1)
    config = directory / "models.config"
    config.write_text(f"""
        model_config_list {{
          config {{
            name: "text"
            base_path: "{directory / 'text'}"
            model_platform: "tensorflow"
            model_version_policy {{ all {{}} }}
            version_labels {{ key: "stable" value: 1 }}
            version_labels {{ key: "canary" value: 2 }}
          }}
          config {{
            name: "examples"
            base_path: "{directory / 'examples'}"
            model_platform: "tensorflow"
          }}
        }}
        """)
    monitoring = directory / "monitoring.config"
    monitoring.write_text(
        'prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }'
    )
    server = ModelServer(
        directory,
        f"--model_config_file={config}",
        f"--monitoring_config_file={monitoring}",
        "--allow_version_labels_for_unavailable_models",
    )
    try:
        server.wait_until_serving("text")
        server.wait_until_serving("examples")
        yield server
    finally:
        server.stop()
