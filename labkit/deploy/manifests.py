"""What every layer of :mod:`labkit.deploy` shares: its errors, the names the manifests under
``k8s/serving/`` use, and how labkit reads an object (its kind/name, its pod spec and labels,
the model name its server serves).

Nothing here imports another part of :mod:`labkit.deploy`. The names follow the Kubernetes
object model (https://kubernetes.io/docs/concepts/overview/working-with-objects/) and KServe's
InferenceService (https://kserve.github.io/website/, kserve ``pkg/apis/serving/v1beta1``): a
PodSpec under ``spec.template.spec`` of a workload, under ``spec.predictor`` of an
InferenceService.
"""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_MODEL_NAME = "sentiment"  # the name the serving image's CMD serves the model as
#: the extended resource of NVIDIA's device plugin, requested and limited per container
GPU = "nvidia.com/gpu"
#: the InferenceService annotation that picks KServe's deployment mode
KSERVE_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
#: KServe's deployment modes (pkg/constants: Standard and Knative; the legacy names still parse)
KSERVE_MODES = {"Standard": "Standard", "RawDeployment": "Standard",
                "Knative": "Knative", "Serverless": "Knative"}  # fmt: skip


class ManifestError(ValueError):
    """Rendered objects failed the schema or the policy, or kustomize could not render them.

    Attributes:
        problems: one line per problem, each starting with ``Kind namespace/name:``.
    """

    def __init__(self, problems: Sequence[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        count = len(self.problems)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in the manifests:\n  "
            + "\n  ".join(self.problems)
        )


class ClusterError(RuntimeError):
    """The cluster refused an object, a rollout did not finish in time, or no cluster is set up."""


def _where(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    name = meta.get("name", "<no name>")
    if meta.get("namespace"):
        name = f"{meta['namespace']}/{name}"
    return f"{obj.get('kind', '<no kind>')} {name}"


def _pod_spec(obj: dict) -> dict:
    if obj["kind"] == "InferenceService":
        return obj.get("spec", {}).get("predictor", {})  # a PodSpec plus KServe's fields
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj.get("spec", {}).get("template", {}).get("spec", {})


def _pod_labels(obj: dict) -> dict:
    if obj["kind"] == "InferenceService":
        return {}
    return obj.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {}) or {}


def served_model_name(container: dict) -> str:
    """The model name a labkit.serving container serves: its ``--name`` argument, else the
    serving image's default (``sentiment``)."""
    args = list(container.get("command") or []) + list(container.get("args") or [])
    if "--name" in args[:-1]:
        return str(args[args.index("--name") + 1])
    return DEFAULT_MODEL_NAME
