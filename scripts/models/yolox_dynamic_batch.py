#!/usr/bin/env python3
"""Re-export a YOLOX ONNX model with a dynamic batch dimension.

Usage: yolox_dynamic_batch.py IN.onnx OUT.onnx

The YOLOX export has a fixed batch of 1: the input `images` [1,3,H,W], the output [1,A,85] and
the head's Reshape nodes, whose constant target shapes start with 1 ([1, 85, -1]). This script
names the first dimension of every graph input and output `batch`, rewrites a leading 1 in a
constant Reshape shape to 0 (ONNX: copy that dimension from the input, i.e. the batch), drops the
stored intermediate shapes (re-inferred by the runtime), checks the result and prints every
change. It needs only the `onnx` package (scripts/setup.sh installs it into .deps/python/).
"""

import sys

import onnx
from onnx import numpy_helper


def make_batch_dynamic(model: onnx.ModelProto) -> list:
    graph = model.graph
    changes = []
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_value"):
            changes.append(f"{value.name}: dimension 0 {dims[0].dim_value} -> batch")
            dims[0].Clear()
            dims[0].dim_param = "batch"
    initializers = {init.name: init for init in graph.initializer}
    constants = {n.output[0]: n for n in graph.node if n.op_type == "Constant"}
    for node in graph.node:
        if node.op_type != "Reshape":
            continue
        name = node.input[1]
        if name in initializers:
            tensor = initializers[name]
        elif name in constants:
            tensor = constants[name].attribute[0].t
        else:
            raise SystemExit(f"Reshape {node.name}: shape {name} is computed, not constant; "
                             "this script handles constant shapes only")
        shape = numpy_helper.to_array(tensor).copy()
        if len(shape) > 0 and shape[0] == 1:
            shape[0] = 0
            tensor.CopyFrom(numpy_helper.from_array(shape, tensor.name))
            changes.append(f"Reshape {node.name}: target shape starts with 0 (copy batch): "
                           f"{shape.tolist()}")
    del graph.value_info[:]
    changes.append("dropped stored intermediate shapes (re-inferred at load)")
    return changes


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    model = onnx.load(src)
    for line in make_batch_dynamic(model):
        print(f"yolox_dynamic_batch: {line}")
    onnx.checker.check_model(model)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    out = inferred.graph.output[0].type.tensor_type.shape.dim
    print("yolox_dynamic_batch: output shape "
          + str([d.dim_param or d.dim_value for d in out]))
    onnx.save(model, dst)
    print(f"yolox_dynamic_batch: wrote {dst}")


if __name__ == "__main__":
    main()
