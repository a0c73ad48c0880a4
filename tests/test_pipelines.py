"""labkit.pipelines: the Kubeflow Pipelines (v2) pipeline data → train → evaluate → export → deploy.

* The committed k8s/pipelines/sentiment_pipeline.yaml is exactly what the source compiles to
  (it cannot drift), and has the tasks, dependencies, parameters and gate it promises.
* The components as plain functions (``component.python_func``): evaluate against the
  curriculum bars, export with its hash, deploy through labkit.deploy's render + validate.
* kfp.local's SubprocessRunner runs the whole pipeline offline (no cluster, no container
  engine, no pip): a tiny training held to lesson 09's *full* bars misses them, and the gate
  stops export and deploy. Lesson 17 runs the passing path (lesson 09's smoke training, every
  task) under tests/test_curriculum.py.
"""

import copy
import hashlib
import json
import os
import subprocess
import sys

import pytest
import yaml
from kfp import dsl

from labkit import datasets, paths, pipelines

REPO = paths.project().root

EXPECTED_TASKS = {
    "fetch-data": set(),
    "train": {"fetch-data"},
    "evaluate": {"train"},
    "export": {"train", "evaluate"},
    "deploy": {"export"},
}


@pytest.fixture(scope="module")
def spec():
    return pipelines.read_pipeline(pipelines.committed_pipeline())


def test_committed_yaml_is_what_the_source_compiles_to(tmp_path):
    fresh = pipelines.compile_pipeline(tmp_path / "pipeline.yaml")
    differences = pipelines.ir_differences(fresh, pipelines.committed_pipeline())
    assert differences == [], (
        "k8s/pipelines/sentiment_pipeline.yaml is out of date: run `python -m labkit.pipelines` "
        "and commit the result. Differences: " + "; ".join(differences)
    )


def test_a_patch_release_of_the_sdk_is_no_difference_but_a_changed_pipeline_is(tmp_path):
    committed = pipelines.read_pipeline(pipelines.committed_pipeline())
    restamped = {**committed, "sdkVersion": "kfp-2.99.1"}
    assert pipelines.ir_differences(restamped, committed) == []
    changed = copy.deepcopy(committed)
    executor = changed["deploymentSpec"]["executors"]["exec-train"]["container"]
    executor["image"] = "example.org/another:1"
    del changed["root"]["inputDefinitions"]["parameters"]["profile"]
    differences = pipelines.ir_differences(changed, committed)
    assert differences == [
        "deploymentSpec.executors.exec-train.container.image: 'example.org/another:1' != "
        f"{executor_image(committed)!r}",
        "root.inputDefinitions.parameters.profile: only in the committed",
    ]
    # the command line says the same, and how to regenerate
    result = subprocess.run(
        [sys.executable, "-m", "labkit.pipelines", "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "compiles to the same pipeline" in result.stdout
    (tmp_path / "k8s" / "pipelines").mkdir(parents=True)
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "curriculum.yaml").write_text("lessons: []\n")
    (tmp_path / "k8s" / "pipelines" / "sentiment_pipeline.yaml").write_text(yaml.safe_dump(changed))
    result = subprocess.run(
        [sys.executable, "-m", "labkit.pipelines", "--check"],
        capture_output=True, text=True, env={**os.environ, "LABKIT_HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 1
    assert "exec-train.container.image" in result.stderr
    assert "python -m labkit.pipelines" in result.stderr


def executor_image(spec):
    return spec["deploymentSpec"]["executors"]["exec-train"]["container"]["image"]


def test_tasks_and_dependencies(spec):
    assert spec["pipelineInfo"]["name"] == pipelines.PIPELINE_NAME
    assert pipelines.pipeline_tasks(spec) == EXPECTED_TASKS


def test_export_and_deploy_run_only_when_evaluate_passes(spec):
    root = spec["root"]["dag"]["tasks"]
    (group,) = [name for name in root if name.startswith("condition")]
    condition = root[group]["triggerPolicy"]["condition"]
    assert condition == "inputs.parameter_values['pipelinechannel--evaluate-Output'] == true"
    inner = spec["components"][root[group]["componentRef"]["name"]]["dag"]["tasks"]
    assert set(inner) == {"export", "deploy"}
    # export publishes the model train produced; deploy labels the manifests with its hash.
    assert inner["export"]["inputs"]["artifacts"]["model"]["componentInputArtifact"] == (
        "pipelinechannel--train-model"
    )
    assert inner["deploy"]["inputs"]["parameters"]["model_sha256"]["taskOutputParameter"] == {
        "outputParameterKey": "Output",
        "producerTask": "export",
    }


def test_pipeline_parameters(spec):
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    types = {name: p["parameterType"] for name, p in parameters.items()}
    assert types == {
        "notebook": "STRING",
        "notebooks_dir": "STRING",
        "datasets": "LIST",
        "parameters": "STRUCT",
        "profile": "STRING",
        "export_parameter": "STRING",
        "model_name": "STRING",
        "version": "STRING",
        "export_dir": "STRING",
        "image": "STRING",
        "overlay": "STRING",
        "replicas": "NUMBER_INTEGER",
        "gpus": "NUMBER_INTEGER",
        "namespace": "STRING",
        "data_volume": "STRING",
        "data_dir": "STRING",
        "train_gpus": "NUMBER_INTEGER",
    }
    defaults = {name: p.get("defaultValue") for name, p in parameters.items()}
    assert defaults["notebook"] == "09_lstm_sentiment.ipynb"
    assert defaults["datasets"] == ["aclimdb"]
    assert defaults["profile"] == "full" and defaults["parameters"] == {}
    assert defaults["notebooks_dir"] == pipelines.IMAGE_NOTEBOOKS_DIR
    # the notebook, its data set and its parameter names exist in this checkout
    assert (REPO / "notebooks" / defaults["notebook"]).is_file()
    registry = yaml.safe_load((REPO / "datasets" / "registry.yaml").read_text(encoding="utf-8"))
    assert "aclimdb" in str(registry)
    notebook = (REPO / "notebooks" / defaults["notebook"]).read_text(encoding="utf-8")
    assert f"{defaults['export_parameter']} = " in notebook


def test_fetch_data_and_train_share_the_data_volume_on_a_cluster(spec):
    # S8: without a volume, train's pod starts with an empty cache and fetches the data again
    # (offline: fails); the path fetch-data passes on exists only in its own pod
    executors = spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for name in ("exec-fetch-data", "exec-train"):
        [mount] = executors[name]["pvcMount"]
        assert mount["mountPath"] == pipelines.DATA_MOUNT, name
        assert mount["pvcNameParameter"] == {"componentInputParameter": "data_volume"}, name
    assert set(executors) == {"exec-fetch-data", "exec-train"}  # the others need no data
    defaults = {n: p.get("defaultValue") for n, p in spec["root"]["inputDefinitions"][
        "parameters"].items()}  # fmt: skip
    assert defaults["data_dir"] == pipelines.DATA_DIR
    assert defaults["data_dir"].startswith(pipelines.DATA_MOUNT + "/")  # the cache is on it
    fetch = spec["root"]["dag"]["tasks"]["fetch-data"]["inputs"]["parameters"]
    assert fetch["data_dir"] == {"componentInputParameter": "data_dir"}


def test_train_can_have_gpus_tolerates_their_taint_and_has_a_deadline(spec):
    train = spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"]
    assert int(train["activeDeadlineSeconds"]) == pipelines.TRAIN_TIMEOUT_S
    assert train["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    resources = spec["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]
    assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert "train_gpus" in resources["accelerator"]["resourceCount"]
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["train_gpus"]["defaultValue"] == 0  # CPU unless asked


def test_read_pipeline_takes_both_documents_and_refuses_other_yaml(tmp_path):
    both = pipelines.read_pipeline(pipelines.committed_pipeline())
    assert {"root", "components", "platforms"} <= set(both)
    other = tmp_path / "deployment.yaml"
    other.write_text("apiVersion: apps/v1\nkind: Deployment\n")
    with pytest.raises(ValueError, match="not a compiled KFP pipeline"):
        pipelines.read_pipeline(other)
    # a changed platform document is a difference
    changed = copy.deepcopy(both)
    changed["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"][
        "activeDeadlineSeconds"] = "60"  # fmt: skip
    assert pipelines.ir_differences(changed, both) == [
        "platforms.kubernetes.deploymentSpec.executors.exec-train.activeDeadlineSeconds: "
        f"'60' != '{pipelines.TRAIN_TIMEOUT_S}'"
    ]


def test_every_step_runs_the_labkit_image_without_installing_anything(spec):
    executors = spec["deploymentSpec"]["executors"]
    assert len(executors) == len(EXPECTED_TASKS)
    for name, executor in executors.items():
        container = executor["container"]
        assert container["image"] == pipelines.IMAGE, name
        command = " ".join(container["command"] + container.get("args", []))
        assert "pip install" not in command, f"{name} would pip install at run time"
    train = executors["exec-train"]["container"]["resources"]
    assert train["cpuRequest"] == 2 and train["memoryLimit"] == 8


# --------------------------------------------------------------------- components as functions


def test_evaluate_holds_metrics_to_the_curriculum_bars(tmp_path):
    evaluate = pipelines.evaluate.python_func
    notebooks = str(REPO / "notebooks")
    report = dsl.Metrics(uri=str(tmp_path / "report"))
    good = {"lstm_test_accuracy": 0.70, "bilstm_test_accuracy": 0.67}
    assert evaluate("09_lstm_sentiment.ipynb", notebooks, "smoke", good, report) is True
    assert report.metadata == {
        "lstm_test_accuracy": 0.70,
        "lstm_test_accuracy_bar": 0.57,
        "bilstm_test_accuracy": 0.67,
        "bilstm_test_accuracy_bar": 0.61,
    }
    # the same numbers miss the full bars; a metric that was not recorded misses its bar
    assert evaluate("09_lstm_sentiment.ipynb", notebooks, "full", good, report) is False
    missing = {"lstm_test_accuracy": 0.99}
    assert evaluate("09_lstm_sentiment.ipynb", notebooks, "smoke", missing, report) is False
    with pytest.raises(ValueError, match="not in"):
        evaluate("99_nothing.ipynb", notebooks, "smoke", good, report)
    with pytest.raises(ValueError, match="profile"):
        evaluate("09_lstm_sentiment.ipynb", notebooks, "medium", good, report)


def test_export_copies_the_model_with_its_hash(tmp_path):
    trained = tmp_path / "train" / "model"
    trained.mkdir(parents=True)
    content = b"not really a keras file, but bytes to hash"
    (trained / "model.keras").write_bytes(content)
    exported = dsl.Model(uri=str(tmp_path / "export" / "exported"))
    digest = pipelines.export.python_func(
        dsl.Model(uri=str(trained)),
        {"bilstm_test_accuracy": 0.67},
        "sentiment",
        "1.2.3",
        str(tmp_path / "models"),
        exported,
    )
    assert digest == hashlib.sha256(content).hexdigest()
    assert (tmp_path / "export" / "exported" / "model.keras").read_bytes() == content
    assert (tmp_path / "models" / "sentiment-1.2.3.keras").read_bytes() == content
    assert not list((tmp_path / "models").glob("*.part"))
    assert exported.metadata["sha256"] == digest
    assert exported.metadata["version"] == "1.2.3"
    assert exported.metadata["metric_bilstm_test_accuracy"] == 0.67
    with pytest.raises(FileNotFoundError, match="model.keras"):
        pipelines.export.python_func(
            dsl.Model(uri=str(tmp_path / "empty")), {}, "sentiment", "1", "", exported
        )


def test_deploy_renders_and_validates_the_serving_manifests(tmp_path):
    manifests = dsl.Artifact(uri=str(tmp_path / "manifests"))
    count = pipelines.deploy.python_func(
        "ghcr.io/example/labkit-serving:1.2.3", "cpu", 3, 1, "ml", "sentiment", "ab" * 32, manifests
    )
    objects = list(yaml.safe_load_all((tmp_path / "manifests").read_text(encoding="utf-8")))
    assert count == len(objects) >= 2
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service"} <= kinds
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert deployment["metadata"]["namespace"] == "ml"
    assert deployment["spec"]["replicas"] == 3
    images = {c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]}
    assert images == {"ghcr.io/example/labkit-serving:1.2.3"}
    assert all(o["metadata"]["annotations"]["labkit/model-sha256"] == "ab" * 32 for o in objects)
    with pytest.raises(ValueError, match="replicas"):
        pipelines.deploy.python_func(
            "ghcr.io/example/labkit-serving:1", "cpu", 0, 1, "ml", "sentiment", "x", manifests
        )


# --------------------------------------------------------------------- kfp.local, offline


@pytest.mark.notebook
def test_local_run_stops_at_the_gate_when_the_bars_are_missed(tmp_path, data_available):
    if not data_available:
        pytest.fail("no data: set LABKIT_DATA_MIRROR (or allow downloads) to run lesson 09")
    tiny = {  # seconds of training: nowhere near lesson 09's full bars (0.85 / 0.87)
        "MAX_PER_CLASS": 100,
        "SEQUENCE_LENGTH": 40,
        "VOCAB_SIZE": 2000,
        "EMBEDDING_DIM": 8,
        "LSTM_UNITS": 4,
        "EPOCHS": 1,
        "TUNER_TRIALS": 1,
        "TUNER_EPOCHS": 1,
        "TUNER_SAMPLES": 50,
        "TUNER_DIR": str(tmp_path / "tuner"),
    }
    run = pipelines.run_locally(
        tmp_path / "root",
        notebooks_dir=str(REPO / "notebooks"),
        parameters=tiny,
        profile="full",
        export_dir=str(tmp_path / "models"),
    )
    manifest = json.loads((run / "fetch-data" / "data").read_text(encoding="utf-8"))
    assert manifest["datasets"]["aclimdb"]["files"] > 0
    assert os.path.samefile(manifest["data_dir"], datasets.data_dir())  # train reads it there
    train = json.loads((run / "train" / "executor_output.json").read_text(encoding="utf-8"))
    recorded = train["parameterValues"]["Output"]
    assert set(recorded) >= {"lstm_test_accuracy", "bilstm_test_accuracy"}
    assert (run / "train" / "model" / "model.keras").is_file()
    executed = json.loads((run / "train" / "executed").read_text(encoding="utf-8"))
    assert any("papermill" in str(cell.get("metadata")) for cell in executed["cells"])
    evaluate = json.loads((run / "evaluate" / "executor_output.json").read_text(encoding="utf-8"))
    assert evaluate["parameterValues"]["Output"] is False
    assert not (run / "export").exists() and not (run / "deploy").exists()
    assert not (tmp_path / "models").exists()
