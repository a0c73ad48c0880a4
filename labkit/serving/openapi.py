"""The OpenAPI document of ``labkit.serving``: KServe's, with what KServe leaves out.

KServe's FastAPI app publishes a document of its routes at ``/openapi.json``, but the v1
predict route has no request body in it, the model name is any string, and neither the limits
nor the error answers are described. :func:`openapi_document` writes them in, so that a client,
or a fuzzer such as schemathesis (``tests/test_serving_hostile.py``), can rely on it. Source:
OpenAPI 3.1 (https://spec.openapis.org/oas/v3.1.0), TensorFlow Serving's REST request format.
"""

from __future__ import annotations

import copy

from labkit.serving.model import KerasModel

__all__ = ["REMOVED_ROUTES", "is_removed", "openapi_document", "install_openapi"]

#: KServe routes this server does not serve: the model repository (load/unload: anyone could
#: unload the model), v1 ``:explain`` (no explainer) and model versions (KServe 0.21 answers
#: them with HTTP 501, "not supported yet")
REMOVED_ROUTES = ("/v2/repository/", ":explain", "/versions/")


def is_removed(path: str) -> bool:
    return any(part in path for part in REMOVED_ROUTES)


_ERROR_SCHEMA = {
    "type": "object",
    "title": "Error",
    "description": "What was wrong, and an id that matches a line of the server's log.",
    "required": ["error", "id"],
    "properties": {"error": {"type": "string"}, "id": {"type": "string"}},
}

_ERROR_ANSWERS = {
    "400": "The request is not one the model can answer (the message says why).",
    "404": "No model of that name.",
    "413": "More than the server takes: bytes (--max-payload-bytes) or instances "
    "(--max-instances).",
    "422": "The body does not fit the protocol's schema.",
    "500": "The model or the server failed; the log has the details under the id.",
    "503": "The model is not loaded yet.",
}


def _v1_instance_schema(model: KerasModel) -> dict:
    spec = model.input_spec
    if spec.is_string and spec.shape == (1,):
        text = {"type": "string"}
        return {
            "description": 'one review: a string, [string], {"b64": base64 of UTF-8 text} or '
            f"{{{spec.name!r}: string}}",
            "anyOf": [
                text,
                {"type": "array", "items": text, "minItems": 1, "maxItems": 1},
                {
                    "type": "object",
                    "required": ["b64"],
                    "properties": {"b64": text},
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "required": [spec.name],
                    "properties": {spec.name: text},
                    "additionalProperties": False,
                },
            ],
        }
    leaf = {"type": "string"} if spec.is_string else {"type": "number"}
    schema = leaf
    for size in reversed(spec.shape):
        schema = {"type": "array", "items": schema}
        if size is not None:
            schema.update(minItems=size, maxItems=size)
    return {"description": spec.describe(), **schema}


def openapi_document(base: dict, models: list[KerasModel], max_payload_bytes: int) -> dict:
    """This server's OpenAPI document: KServe's (``base``), with what KServe leaves out.

    * ``POST /v1/models/{model_name}:predict`` gets its request body (TensorFlow Serving's
      ``{"instances": [...]}``, at most ``max_instances`` of the model's instance schema);
    * ``model_name`` is one of the served models' names, on every route;
    * the v2 tensor's shape sizes are integers >= 0;
    * every route lists the error answers, ``{"error", "id"}``, and the payload limit.

    Args:
        base: KServe's FastAPI document (``app.openapi()``), not changed.
        models: the served models (loaded: their input specs are known).
        max_payload_bytes: the body limit (HTTP 413 above it).

    Returns:
        A new OpenAPI 3.1 document (a dict).
    """
    doc = copy.deepcopy(base)
    doc["paths"] = {path: ops for path, ops in doc.get("paths", {}).items() if not is_removed(path)}
    names = [model.name for model in models]
    limits = ", ".join(
        f"{model.name}: at most {model.max_instances:,} instances per request, run in model "
        f"batches of at most {model.max_batch_size}"
        for model in models
    )
    doc["info"] = {
        "title": "labkit.serving",
        "version": base.get("info", {}).get("version", ""),
        "description": f"KServe {base.get('info', {}).get('version', '')} ModelServer serving "
        f"{', '.join(names)} (labkit.serving). Request bodies at most {max_payload_bytes:,} "
        f'bytes; {limits}. Errors: {{"error": message, "id": id}}.',
    }
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = _ERROR_SCHEMA
    shape = schemas.get("RequestInput", {}).get("properties", {}).get("shape")
    if shape is not None:
        shape["items"] = {"type": "integer", "minimum": 0}
        shape["minItems"] = 1
    if len(models) == 1:
        model = models[0]
        schemas["V1PredictRequest"] = {
            "type": "object",
            "title": "V1PredictRequest",
            "description": "TensorFlow Serving's REST request: one entry per instance.",
            "required": ["instances"],
            "properties": {
                "instances": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": model.max_instances,
                    "items": _v1_instance_schema(model),
                }
            },
        }
    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "model_name" and parameter.get("in") == "path":
                    parameter["schema"] = {"type": "string", "enum": names}
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status, description in _ERROR_ANSWERS.items():
                if status in ("400", "413", "422") and method != "post":
                    continue
                if status == "404" and "{model_name}" not in path:
                    continue
                responses[status] = {"description": description, "content": error_content}
            if path.endswith(":predict") and method == "post" and len(models) == 1:
                operation["requestBody"] = {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/V1PredictRequest"}
                        }
                    },
                }
    return doc


def install_openapi(app, models: list[KerasModel], max_payload_bytes: int) -> None:
    """Serve :func:`openapi_document` at ``/openapi.json`` (built once, on the first request)."""
    kserve_openapi = app.openapi
    document: dict = {}

    def openapi() -> dict:
        if not document:
            document.update(openapi_document(kserve_openapi(), models, max_payload_bytes))
        return document

    app.openapi = openapi
