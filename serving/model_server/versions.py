"""The version manager: which versions of which models are loaded, served and reported.

`VersionManager` does what TF Serving's ServerCore does with its
FileSystemStoragePathSource, AspiredVersionsManager (availability-preserving
policy) and ServableStateMonitor:

- Each configured model's base path is polled every
  `--file_system_poll_wait_seconds` (once only when that is 0), through
  `tf.io.gfile` (so `gs://`, `s3://`, ... base paths load as local ones); its
  subdirectories named by ASCII digits (an int64) are its versions. A listing
  that fails (a base path that does not exist included) changes nothing: the
  versions serving keep serving.
- The model's `model_version_policy` picks the aspired versions among them:
  `latest { num_versions }` (the default, one version), `all`, or
  `specific { versions }`.
- Aspired versions are loaded while the others keep serving. A failed load is
  retried `--max_num_load_retries` times, `--load_retry_interval_micros` apart,
  the version LOADING with an OK status meanwhile (TF Serving's BasicManager
  publishes {LOADING, OK} once; LoaderHarness::Load retries without
  publishing); after that the version ends (state END) with the last load
  error, which GetModelStatus reports, and the versions already serving are
  untouched.
  It is not loaded again while it stays aspired; once a poll finds it no
  longer aspired, it is loaded afresh when it is aspired again.
- Versions no longer aspired are unloaded once an aspired version is available
  (availability preserving: a failed new version never takes a model down).
  With nothing aspired (a base path left with no versions, a removed model)
  every version is unloaded.
  An unloading version gets no new requests and is released by the last of
  its in-flight requests (`acquire` counts them): nothing waits for them.
- `version_labels` map names to versions. As in TF Serving a label may only
  point at an AVAILABLE version, unless
  `--allow_version_labels_for_unavailable_models` is set and the label is new or
  unchanged.
- A request names a model and optionally a version or a label; without either
  it gets the highest available version.
- `reload_config` applies a new ModelServerConfig (the startup config, the
  `--model_config_file` when it changes, HandleReloadConfigRequest): new models
  are loaded and waited for, until an optional deadline (DEADLINE_EXCEEDED
  after it, the config staying applied), removed models unloaded.
"""

import contextlib
import os
import threading
import time

import tensorflow as tf
from absl import logging
from tensorflow_serving.apis import get_model_status_pb2

from serving.model_server import errors
from serving.model_server.servables import Servable

_Status = get_model_status_pb2.ModelVersionStatus


class _Version:
    """One version directory of a model and where it is in its life cycle."""

    def __init__(self, number, path):
        self.number = number
        self.path = path
        self.state = _Status.START
        self.error = None  # reported: the load error of an ended version
        self.servable = None
        self.in_flight = 0
        self.failed_loads = 0
        self.next_load_time = 0.0
        # Ended and no longer aspired: loaded afresh when aspired again.
        self.flushed = False


class _Model:
    def __init__(self, name):
        self.name = name
        self.config = None  # the ModelConfig; None until configured and once removed
        self.versions = {}

    def available(self):
        return {
            number: version
            for number, version in self.versions.items()
            if version.state == _Status.AVAILABLE
        }


_MAX_VERSION = 2**63 - 1
# How long HandleReloadConfigRequest waits at most for its new models.
MAX_RELOAD_WAIT_SECONDS = 30.0


def _version_number(name):
    """The version a directory name stands for (TF Serving's `SimpleAtoi` into int64), or None."""
    name = name.rstrip("/")  # object stores list directories with a trailing slash
    if not (name.isascii() and name.isdigit()) or int(name) > _MAX_VERSION:
        return None
    return int(name)


def versions_on_disk(base_path):
    """The version subdirectories of `base_path`, as {version: path}; None when it cannot be listed."""
    try:
        # Object stores list a missing directory as empty: TF Serving checks first.
        if not tf.io.gfile.exists(base_path):
            raise FileNotFoundError(f"{base_path} does not exist")
        names = tf.io.gfile.listdir(base_path)
        versions = {}
        for name in names:
            number = _version_number(name)
            path = tf.io.gfile.join(base_path, name.rstrip("/"))
            if number is not None and tf.io.gfile.isdir(path):
                versions[number] = path
    except (tf.errors.OpError, OSError) as error:
        logging.warning("Could not list base path %s: %s", base_path, error)
        return None
    return versions


def aspired_versions(policy, numbers):
    """The versions among `numbers` that a ServableVersionPolicy wants served."""
    kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return set(numbers)
    if kind == "specific":
        return set(policy.specific.versions) & set(numbers)
    return set(sorted(numbers)[-max(policy.latest.num_versions, 1) :])


def _is_absolute(base_path):
    return "://" in base_path or os.path.isabs(base_path)


def _check_model_configs(model_configs):
    """TF Serving's checks of a ModelConfigList: unique names, absolute paths, TensorFlow platform."""
    names = set()
    for config in model_configs:
        if config.name in names:
            raise errors.invalid_argument(
                f"Illegal to list model {config.name} multiple times in config list"
            )
        names.add(config.name)
        if not _is_absolute(config.base_path):
            raise errors.invalid_argument(
                f"Expected model {config.name} to have an absolute path or URI; "
                f"got base_path()={config.base_path}"
            )
        if config.model_platform not in ("", "tensorflow"):
            raise errors.invalid_argument(
                f"Model {config.name} requests unsupported platform {config.model_platform}"
            )


class VersionManager:
    """Loads, serves and unloads the versions of the configured models.

    Args:
        file_system_poll_wait_seconds: seconds between two polls of the base
            paths; 0 polls once, at startup.
        max_num_load_retries: retries of a failed load before the version ends.
        load_retry_interval_seconds: wait between two load attempts.
        allow_version_labels_for_unavailable_models: accept new labels that
            point at versions that are not available (yet).
        load: makes a `Servable` from (name, version, path); `Servable` itself.
    """

    def __init__(
        self,
        file_system_poll_wait_seconds=1.0,
        max_num_load_retries=5,
        load_retry_interval_seconds=60.0,
        allow_version_labels_for_unavailable_models=False,
        load=Servable,
    ):
        self._poll_wait_seconds = file_system_poll_wait_seconds
        self._max_num_load_retries = max_num_load_retries
        self._load_retry_interval_seconds = load_retry_interval_seconds
        self._allow_unavailable_labels = allow_version_labels_for_unavailable_models
        self._load = load
        self._models = {}
        self._labels = {}
        # Guards the models' versions, states and in-flight counts.
        self._lock = threading.Lock()
        # One poll or config reload at a time.
        self._poll_lock = threading.Lock()

    # Serving requests.

    @contextlib.contextmanager
    def acquire(self, model_spec):
        """Yields the `Servable` a ModelSpec asks for; it stays loaded until the block exits."""
        version = self._resolve(model_spec)
        try:
            yield version.servable
        finally:
            with self._lock:
                version.in_flight -= 1
                if not version.in_flight and version.state == _Status.UNLOADING:
                    self._release(model_spec.name, version)

    def _resolve(self, model_spec):
        name = model_spec.name
        if not name:
            raise errors.invalid_argument("ModelSpec has no name specified.")
        with self._lock:
            choice = model_spec.WhichOneof("version_choice")
            if choice == "version_label":
                label = model_spec.version_label
                number = self._labels.get(name, {}).get(label)
                if number is None:
                    raise errors.invalid_argument(f"Unrecognized servable version label: {label}")
            elif choice == "version":
                number = model_spec.version.value
            else:
                number = None
            model = self._models.get(name)
            available = model.available() if model else {}
            if number is None:
                version = available[max(available)] if available else None
                request = f"Latest({name})"
            else:
                version = available.get(number)
                request = f"Specific({name}, {number})"
            if version is None:
                raise errors.not_found(f"Servable not found for request: {request}")
            version.in_flight += 1
            return version

    def status(self, model_spec):
        """The GetModelStatusResponse for a ModelSpec (a label is ignored, as in TF Serving)."""
        response = get_model_status_pb2.GetModelStatusResponse()
        name = model_spec.name
        with self._lock:
            model = self._models.get(name)
            versions = model.versions if model else {}
            if model_spec.HasField("version"):
                number = model_spec.version.value
                if number not in versions:
                    raise errors.not_found(f"Could not find version {number} of model {name}")
                reported = [versions[number]]
            else:
                if not versions:
                    raise errors.not_found(f"Could not find any versions of model {name}")
                reported = [versions[number] for number in sorted(versions, reverse=True)]
            for version in reported:
                status = response.model_version_status.add(
                    version=version.number, state=version.state
                )
                if version.error is not None:
                    status.status.error_code = version.error.code_number
                    status.status.error_message = version.error.message
                else:
                    status.status.SetInParent()
        return response

    # Configuration.

    def reload_config(self, config, deadline=None):
        """Applies a ModelServerConfig and waits for its new models to become available.

        Args:
            config: a ModelServerConfig.
            deadline: `time.monotonic()` time after which waiting for the new
                models stops; None waits as long as they take.

        Raises:
            ServingError: INVALID_ARGUMENT for an invalid config, FAILED_PRECONDITION
                for a label on an unavailable version, UNKNOWN when a new model
                has no version that loads, DEADLINE_EXCEEDED when one is not
                available by `deadline`.
        """
        if config.WhichOneof("config") is None:
            logging.info("Taking no action for empty config.")
            return
        if config.WhichOneof("config") != "model_config_list":
            raise errors.invalid_argument(
                "ServerModelConfig type not supported. Only ModelConfigList is currently supported"
            )
        model_configs = list(config.model_config_list.config)
        _check_model_configs(model_configs)
        with self._poll_lock:
            labels = self._checked_labels(model_configs)
            with self._lock:
                configured = {model_config.name: model_config for model_config in model_configs}
                new_models = [name for name in configured if not self._is_configured(name)]
                for name, model in self._models.items():
                    model.config = configured.get(name)
                for name in new_models:
                    self._models.setdefault(name, _Model(name)).config = configured[name]
                self._labels = labels
            self._poll_models()
        self._wait_until_available(new_models, deadline)

    def _is_configured(self, name):
        return name in self._models and self._models[name].config is not None

    def is_served(self, name):
        """Whether `name` is a model of the current config."""
        with self._lock:
            return self._is_configured(name)

    def _checked_labels(self, model_configs):
        labels = {}
        with self._lock:
            for config in model_configs:
                model = self._models.get(config.name)
                for label, number in sorted(config.version_labels.items()):
                    current = self._labels.get(config.name, {}).get(label)
                    allowed = self._allow_unavailable_labels and current in (None, number)
                    if not allowed and not (model and number in model.available()):
                        raise errors.failed_precondition(
                            f"Request to assign label to version {number} of model {config.name}, "
                            "which is not currently available for inference"
                        )
                    labels.setdefault(config.name, {})[label] = number
        return labels

    def _wait_until_available(self, names, deadline):
        """Polls until each model has an available version; UNKNOWN if one has none left to try."""
        while True:
            with self._lock:
                waiting, failures = [], {}
                for name in names:
                    versions = self._models[name].versions.values()
                    if any(version.state == _Status.AVAILABLE for version in versions):
                        continue
                    load_errors = [
                        f"{{name: {name} version: {version.number}}} due to error: {version.error}"
                        for version in versions
                        if version.error is not None
                    ]
                    if load_errors and not any(
                        version.state in (_Status.START, _Status.LOADING) for version in versions
                    ):
                        failures[name] = load_errors
                    else:
                        waiting.append(name)
            if failures:
                details = ", ".join(
                    error for load_errors in failures.values() for error in load_errors
                )
                raise errors.unknown(
                    f"{len(failures)} model(s) did not become available: {{{details}}}"
                )
            if not waiting:
                return
            wait_seconds = max(self._poll_wait_seconds, 0.1)
            if deadline is not None and time.monotonic() + wait_seconds > deadline:
                raise errors.deadline_exceeded(
                    f"Deadline exceeded while waiting for models to become available: "
                    f"{', '.join(waiting)}"
                )
            logging.info("Waiting for models to become available: %s", ", ".join(waiting))
            time.sleep(wait_seconds)
            self.poll()

    # Polling the file system.

    def start(self):
        """Polls the base paths every `file_system_poll_wait_seconds` in a background thread."""
        if self._poll_wait_seconds > 0:
            threading.Thread(target=self._poll_loop, name="file-system-poll", daemon=True).start()

    def _poll_loop(self):
        while True:
            time.sleep(self._poll_wait_seconds)
            try:
                self.poll()
            except Exception:  # a failing poll must not stop the next ones
                logging.exception("Polling the model base paths failed")

    def poll(self):
        """Loads the newly aspired versions of every model and unloads the ones no longer aspired."""
        with self._poll_lock:
            self._poll_models()

    def _poll_models(self):
        with self._lock:
            models = list(self._models.values())
        for model in models:
            self._poll_model(model)

    def _poll_model(self, model):
        config = model.config
        if config is None:
            aspired, on_disk = set(), {}
        else:
            on_disk = versions_on_disk(config.base_path)
            if on_disk is None:
                return  # nothing is known: keep every version as it is
            if not on_disk:
                logging.warning(
                    "No versions of servable %s found under base path %s",
                    model.name,
                    config.base_path,
                )
            aspired = aspired_versions(config.model_version_policy, on_disk)
        now = time.monotonic()
        with self._lock:
            for number in aspired:
                version = model.versions.get(number)
                if version is None or (
                    version.state == _Status.END and (version.error is None or version.flushed)
                ):
                    model.versions[number] = _Version(number, on_disk[number])
            for version in model.versions.values():
                if version.number not in aspired:
                    if version.state in (_Status.START, _Status.LOADING):
                        version.state = _Status.END
                    version.flushed = version.state == _Status.END
            to_load = [
                version
                for number, version in sorted(model.versions.items())
                if number in aspired
                and version.state in (_Status.START, _Status.LOADING)
                and version.next_load_time <= now
            ]
        for version in to_load:
            self._load_version(model.name, version)
        with self._lock:
            available = model.available()
            unaspired = sorted(number for number in available if number not in aspired)
            if aspired and not any(number in aspired for number in available):
                unaspired = unaspired[:-1]  # keep serving the newest until an aspired one is up
            to_unload = [available[number] for number in unaspired]
        for version in to_unload:
            self._unload_version(model.name, version)

    def _load_version(self, name, version):
        with self._lock:
            version.state = _Status.LOADING
        logging.info("Loading servable version {name: %s version: %d}", name, version.number)
        try:
            servable = self._load(name, version.number, version.path)
        except Exception as exception:
            error = errors.from_exception(exception)
            with self._lock:
                version.failed_loads += 1
                if version.failed_loads > self._max_num_load_retries:
                    version.state = _Status.END
                    version.error = error
                else:  # still LOADING, with an OK status, until the last retry fails
                    version.next_load_time = time.monotonic() + self._load_retry_interval_seconds
            logging.error(
                "Loading servable: {name: %s version: %d} failed: %s", name, version.number, error
            )
            return
        with self._lock:
            version.servable = servable
            version.error = None
            version.state = _Status.AVAILABLE
        logging.info(
            "Successfully loaded servable version {name: %s version: %d}", name, version.number
        )

    def _unload_version(self, name, version):
        """Stops new requests to `version`; the last in-flight one releases it (now, if none)."""
        with self._lock:
            version.state = _Status.UNLOADING
            if not version.in_flight:
                self._release(name, version)

    def _release(self, name, version):
        """Drops an unloading version's servable; called holding the lock."""
        version.servable = None
        version.state = _Status.END
        logging.info("Unloaded servable version {name: %s version: %d}", name, version.number)
