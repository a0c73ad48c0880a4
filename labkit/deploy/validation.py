"""Offline validation of rendered objects: :func:`validate`.

The schema of every object, strict as the API server's ``fieldValidation=Strict``: built-in
kinds with ``kubernetes-validate`` (the OpenAPI schemas of a Kubernetes version, default
:data:`labkit.runtime.KUBERNETES_VERSION`), a KServe InferenceService with KServe's own CRD
schema (vendored in ``k8s/schemas/``) and its PodSpec part as a Pod; then the admission rules
(:mod:`labkit.deploy.admission`) and labkit's policy (:mod:`labkit.deploy.policy`). All
problems are collected into one :class:`~labkit.deploy.ManifestError`.

Upstream: kubernetes-validate (https://github.com/willthames/kubernetes-validate), structural
CRD schemas and pruning (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema),
field validation (https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation),
KServe's CRD (kserve ``config/crd/full``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from labkit.deploy.admission import KSERVE_COMPONENT_FIELDS
from labkit.deploy.manifests import ManifestError, _where
from labkit.deploy.policy import policy_problems
from labkit.runtime import KUBERNETES_VERSION

CUSTOM_API_GROUPS = {"serving.kserve.io"}  # no schema in kubernetes-validate: checked here
#: KServe's InferenceService CRD (v0.20.0, trimmed), vendored under k8s/: the schema validate() uses
KSERVE_CRD = Path("k8s") / "schemas" / "serving.kserve.io_inferenceservices.yaml"


def _strict_json_schema(schema: dict) -> dict:
    """A CRD's structural OpenAPI v3 schema as JSON Schema, unknown fields refused.

    As the API server prunes and, with ``fieldValidation=Strict``, refuses unknown fields: an
    object with ``properties`` gets ``additionalProperties: false`` unless it carries
    ``x-kubernetes-preserve-unknown-fields``; ``x-kubernetes-int-or-string`` is an integer or a
    string; other ``x-kubernetes-*`` extensions are dropped.
    """
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key.startswith("x-kubernetes-"):
            continue
        if key in ("properties", "patternProperties"):
            out[key] = {name: _strict_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _strict_json_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_strict_json_schema(sub) for sub in value]
        else:
            out[key] = value
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("additionalProperties", False)
    return out


_CRD_VALIDATORS: dict[str, Any] = {}


def _kserve_validator():
    """The jsonschema validator of the vendored InferenceService CRD (v1beta1), cached."""
    if "isvc" not in _CRD_VALIDATORS:
        import jsonschema

        from labkit import paths

        crd = yaml.safe_load(paths.project_file(KSERVE_CRD).read_text())
        (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta1"]
        schema = _strict_json_schema(version["schema"]["openAPIV3Schema"])
        schema["properties"]["metadata"] = {"type": "object"}  # the API server's ObjectMeta
        _CRD_VALIDATORS["isvc"] = jsonschema.Draft7Validator(schema)
    return _CRD_VALIDATORS["isvc"]


def _schema_check(obj: dict, version: str) -> list[str]:
    import kubernetes_validate

    where = _where(obj)
    document = obj
    if str(obj.get("apiVersion", "")).split("/")[0] in CUSTOM_API_GROUPS:
        if obj.get("apiVersion") != "serving.kserve.io/v1beta1" or (
            obj.get("kind") != "InferenceService"
        ):
            return [f"{where}: no schema for {obj.get('apiVersion')} {obj.get('kind')}"]
        # KServe's CRD schema (vendored from kserve's config/crd/full, unknown fields refused),
        # then the predictor's PodSpec part against Kubernetes' own schema, as a Pod.
        problems = []
        for error in sorted(_kserve_validator().iter_errors(obj), key=lambda e: list(e.path)):
            at = ".".join(str(p) for p in error.absolute_path)
            problems.append(
                f"{where}: schema (KServe InferenceService CRD v1beta1): {error.message}"
                + (f" (at {at})" if at else "")
            )
        if problems:
            return problems
        predictor = (obj.get("spec") or {}).get("predictor") or {}
        pod_fields = {k: v for k, v in predictor.items() if k not in KSERVE_COMPONENT_FIELDS}
        document = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": (obj.get("metadata") or {}).get("name", "x")},
            "spec": pod_fields,
        }
    try:
        kubernetes_validate.validate(document, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(p) for p in getattr(error, "path", []) or [])
        return [f"{where}: schema (Kubernetes {version}): {error.message}" + (
            f" (at {path})" if path else "")]  # fmt: skip
    except Exception as error:  # an unknown kind or version: say which
        return [f"{where}: cannot validate against Kubernetes {version}: {error}"]
    return []


def validate(
    objects: list[dict],
    kubernetes_version: str = KUBERNETES_VERSION,
    *,
    knative_features: dict[str, str] | None = None,
) -> None:
    """Check objects offline: the schema (strict), the policy and KServe's admission rules.

    Every built-in object is checked with ``kubernetes_validate.validate(obj,
    kubernetes_version, strict=True)`` (unknown fields, wrong types and missing required fields
    are errors). A KServe InferenceService is checked against KServe's CRD schema (vendored in
    ``k8s/schemas/``, unknown fields refused as with ``fieldValidation=Strict``), its PodSpec
    part against Kubernetes' Pod schema, and against its deployment mode's admission rules
    (:func:`kserve_problems`: Knative's pod-spec field masks and feature flags, or KServe's HPA
    metrics). Then :func:`policy_problems`. All problems are collected before raising.

    Args:
        objects: Kubernetes objects as dicts (e.g. from :func:`render`).
        kubernetes_version: e.g. ``"1.30"`` (a version kubernetes-validate has schemas for;
            default :data:`labkit.runtime.KUBERNETES_VERSION`).
        knative_features: the cluster's Knative ``config-features`` that differ from the
            defaults, e.g. ``{"kubernetes.podspec-tolerations": "enabled"}``.

    Raises:
        ManifestError: one line per problem, each naming the object's kind and name.
        ValueError: ``objects`` is empty or holds something that is not a mapping.
    """
    objects = list(objects)
    if not objects:
        raise ValueError("no objects to validate: render() returned nothing?")
    bad = [type(o).__name__ for o in objects if not isinstance(o, dict)]
    if bad:
        raise ValueError(f"objects must be dicts (parsed YAML), got {bad}")
    problems = [p for obj in objects for p in _schema_check(obj, kubernetes_version)]
    problems += policy_problems(objects, knative_features)
    if problems:
        raise ManifestError(problems)
