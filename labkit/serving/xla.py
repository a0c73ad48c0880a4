"""How :class:`~labkit.serving.model.KerasModel` cuts a Keras model for XLA.

XLA (``tf.function(jit_compile=True)``) cannot compile string operations, so a text model is
split after the layer that turns its strings into numbers (``TextVectorization``): that layer
runs as a plain graph, the numeric rest under XLA (``KerasModel._with_xla``). A numeric model
runs under XLA whole. :func:`split_for_xla` finds the cut, or raises :class:`NoXLA` with why
the model is served without XLA. Keras is imported on the first call, not with this module.
"""

from __future__ import annotations

from labkit.serving.protocol import InputSpec

__all__ = ["NoXLA", "split_for_xla"]


class NoXLA(Exception):
    """Why a model is served without XLA."""


def split_for_xla(model, spec: InputSpec):
    """Split ``model`` into (string preprocessing layer or None, numeric core model, the core's
    per-instance input shape, its dtype) for XLA.

    Raises:
        NoXLA: the model does not fit: a text input not consumed by exactly one layer with one
            numeric output of fixed shape, or a numeric input with a free dimension.
    """
    import keras

    if not spec.is_string:
        if any(d is None for d in spec.shape):
            raise NoXLA("the input has a free dimension: one compilation per shape")
        return None, model, spec.shape, spec.dtype
    inputs = model.inputs[0]
    consumers = [
        (layer, node)
        for layer in model.layers
        for node in getattr(layer, "_inbound_nodes", [])
        if any(t is inputs for t in node.input_tensors)
    ]
    if len(consumers) != 1 or spec.shape != (1,):
        raise NoXLA("the text input does not go through exactly one layer")
    layer, node = consumers[0]
    if len(layer._inbound_nodes) != 1 or len(node.output_tensors) != 1:
        raise NoXLA(f"layer {layer.name!r} is used more than once")
    boundary = node.output_tensors[0]
    shape = tuple(boundary.shape[1:])
    if "string" in str(boundary.dtype) or any(d is None for d in shape):
        raise NoXLA(f"layer {layer.name!r} does not give numbers of a fixed shape")
    outputs = model.outputs[0] if len(model.outputs) == 1 else model.outputs
    try:
        core = keras.Model(boundary, outputs)
    except Exception as error:  # noqa: BLE001
        raise NoXLA(f"cannot cut the model after {layer.name!r}: {error}") from None
    return layer, core, shape, str(boundary.dtype)
