"""The catalogue: Keras/TensorFlow error messages, as data, one entry per message pattern.

Each entry names the rule it points to (or `classify="input"`/`"target"` when the rule follows
from the shapes in the message), the versions that print it, and a real example; a test runs
every example through `explain`. Texts come from shared/research/keras-errors.md and from the
errors this Keras raises on the fixtures (tests/explain).
"""

from __future__ import annotations

from dataclasses import dataclass

# A printed shape: numbers, None or ? (TF1), comma-separated. Nothing else is parsed as one.
SHAPE = r"\((?:\s*(?:-?\d+|None|\?)\s*,)*\s*(?:-?\d+|None|\?)?\s*\)"


@dataclass(frozen=True)
class Pattern:
    id: str
    regex: str
    versions: str
    example: str
    code: str | None = None  # the rule; None when `classify` decides it from the values
    classify: str | None = None  # "input", "target", "rank", "index", "label", "object", "batch"
    confidence: float = 0.9
    # Keras 2.x prints shapes without the batch axis ("expected ... to have shape (8,)").
    sample_shapes: bool = False
    # Another text that must appear too, for wordings that other errors share.
    context: str | None = None


CATALOGUE: tuple[Pattern, ...] = (
    # --- inputs: shapes (KF100-KF108, decided from the shapes) -----------------------------
    Pattern(
        "k3-invalid-input-shape",
        rf"Invalid input shape for input [^\n]{{0,400}}? Expected shape (?P<expected>{SHAPE}), "
        rf"but input has incompatible shape (?P<found>{SHAPE})",
        "Keras 3",
        'ValueError: Invalid input shape for input Tensor("data:0", shape=(None, 10, 3), '
        "dtype=float32) with name 'input_layer' and path ''. Expected shape (None, 10, 3), "
        "but input has incompatible shape (None, 7, 2, 2, 2)",
        classify="input",
    ),
    Pattern(
        "input-spec-ndim",
        r"Input \d+ (?P<named>with name '[^']*' )?of layer [\"']?(?P<layer>[\w/.-]+)[\"']? is "
        r"incompatible with the layer:(?: :)? expected (?:min_|max_)?ndim=(?P<expected_ndim>\d+), "
        rf"found ndim=(?P<found_ndim>\d+)(?:\. Full shape received: (?P<found>{SHAPE}))?",
        "Keras 3, tf.keras 2.x",
        'ValueError: Input 0 of layer "lstm" is incompatible with the layer: expected '
        "ndim=3, found ndim=2. Full shape received: (None, 10)",
        classify="rank",
    ),
    Pattern(
        "keras2-input-spec-ndim",
        r"Input \d+ is incompatible with layer (?P<keras2>(?P<layer>[\w/.-]+)): expected "
        r"(?:min_|max_)?ndim ?(?:=|>=|<=) ?(?P<expected_ndim>\d+), found ndim=(?P<found_ndim>\d+)",
        "Keras 1.x-2.x",
        "ValueError: Input 0 is incompatible with layer lstm_2: expected ndim=3, found ndim=2",
        classify="rank",
    ),
    Pattern(
        "input-spec-shape",
        r"(?:Input \d+ (?P<named>with name '[^']*' )?of layer [\"']?(?P<layer>[\w/.-]+)[\"']? )?"
        rf"is incompatible with the layer: expected shape=(?P<expected>{SHAPE}), "
        rf"found shape=(?P<found>{SHAPE})",
        "tf.keras 2.x, Keras 3 (a nested model)",
        'ValueError: Input 0 of layer "sequential" is incompatible with the layer: expected '
        "shape=(None, 28, 28, 1), found shape=(None, 784)",
        classify="input",
    ),
    Pattern(
        "input-spec-axis",
        r"expected axis (?P<axis>-?\d+) of input shape to have value (?P<expected_value>\d+),? "
        rf"but received input with shape (?P<found>{SHAPE})",
        "Keras 3, tf.keras 2.x",
        "ValueError: Input 0 with name 'None' of layer 'conv1d' is incompatible with the layer: "
        "expected axis -1 of input shape to have value 3, but received input with shape "
        "(None, 20, 5)",
        code="KF107",
        confidence=0.7,
    ),
    Pattern(
        "keras2-checking-input-shape",
        rf"Error when checking input: expected (?P<layer>\w+) to have shape (?P<expected>{SHAPE}) "
        rf"but got array with shape (?P<found>{SHAPE})",
        "Keras 2.0-2.3",
        "ValueError: Error when checking input: expected dense_input to have shape (8,) but "
        "got array with shape (1,)",
        classify="input",
        sample_shapes=True,
    ),
    Pattern(
        "keras2-checking-input-ndim",
        r"Error when checking input: expected (?P<layer>\w+) to have (?P<expected_ndim>\d+) "
        rf"dimensions, but got array with shape (?P<found>{SHAPE})",
        "Keras 2.0-2.3",
        "ValueError: Error when checking input: expected lstm_input_9 to have 3 dimensions, "
        "but got array with shape (100, 9)",
        classify="rank",
    ),
    Pattern(
        "tf1-cannot-feed",
        rf"Cannot feed value of shape (?P<found>{SHAPE}) for Tensor '(?P<tensor>[^']+)', "
        rf"which has shape '(?P<expected>{SHAPE})'",
        "TensorFlow 1.x",
        "ValueError: Cannot feed value of shape (19,) for Tensor 'Placeholder:0', which has "
        "shape '(?, 19)'",
        classify="input",
    ),
    Pattern(
        "tf-rank-at-least",
        r"Shape \((?P<found_dims>[\d, ]*)\) must have rank at least (?P<expected_ndim>\d+)",
        "TensorFlow 1.x-2.x",
        "ValueError: Shape (2, 4) must have rank at least 3",
        code="KF101",
        confidence=0.6,
    ),
    Pattern(
        "k3-lstm-unknown-rank",
        r"Cannot take the length of shape with unknown rank",
        "Keras 3",
        "ValueError: Cannot take the length of shape with unknown rank.",
        code="KF107",
        confidence=0.5,
    ),
    Pattern(
        "tf-depth-filter",
        r"Depth of input \((?P<found_depth>\d+)\) is not a multiple of input depth of filter "
        r"\((?P<expected_depth>\d+)\)",
        "TensorFlow 1.x-2.x",
        "InvalidArgumentError: Depth of input (1) is not a multiple of input depth of filter (5)",
        code="KF107",
    ),
    Pattern(
        "tf-reshape-values",
        r"Input to reshape is a tensor with (?P<values>\d+) values, but the requested shape "
        r"(?:requires a multiple of|has) (?P<multiple>\d+)(?P<op>[^\n]{0,300})",
        "TensorFlow 1.x-2.x",
        "InvalidArgumentError: Input to reshape is a tensor with 200704 values, but the "
        "requested shape requires a multiple of 150528",
        code="KF106",
        classify="reshape",
        confidence=0.6,
    ),
    # --- inside the model (KF601), and the boundary rule a text may also be --------------
    Pattern(
        "tf-negative-dimension",
        r"Negative dimension size caused by subtracting (?P<kernel>\d+) from (?P<size>\d+)",
        "TensorFlow 1.x-2.x, Keras 3 (running)",
        "ValueError: Negative dimension size caused by subtracting 2 from 1 for "
        "'max_pooling2d/MaxPool'",
        code="KF601",
        classify="window",
        confidence=0.85,
    ),
    Pattern(
        "k3-output-size-negative",
        r"(?i:computed output size would be (?:zero or )?negative)|The specified size "
        r"contains a dimension with value <= 0|The shape of the input to \"Flatten\" is not "
        r"fully defined \(got \([^)]*\b0\b",
        "Keras 3",
        "ValueError: Computed output size would be zero or negative. Received: "
        "`inputs.shape=[None 1 1 4]`, `pool_size=[2 2]`, `strides=(2, 2)`, `padding=valid`.",
        code="KF601",
        classify="window",
        confidence=0.85,
    ),
    Pattern(
        "tf-output-dimension-downsampling",
        r"One of the dimensions in the output is <= 0 due to downsampling in (?P<layer>[\w/.-]+)",
        "tf.keras 2.x",
        "ValueError: One of the dimensions in the output is <= 0 due to downsampling in "
        "conv2d_3. Consider increasing the input size.",
        code="KF601",
        classify="window",
        confidence=0.85,
    ),
    Pattern(
        "k3-cropping-too-large",
        r"Values in `cropping` argument should be smaller than the corresponding spatial "
        r"dimension of the input|`cropping` parameter of `Cropping\dD` layer must be",
        "Keras 3",
        "ValueError: Values in `cropping` argument should be smaller than the corresponding "
        "spatial dimension of the input. Received: input_shape=(None, 8, 8, 3), "
        "cropping=((5, 5), (5, 5))",
        code="KF601",
        confidence=0.8,
    ),
    Pattern(
        "k3-kernel-shape-length",
        r"Kernel shape must have (?:the )?same length as input, but received kernel of shape "
        rf"(?P<kernel>{SHAPE}) and input of shape (?P<found>{SHAPE})",
        "Keras 3",
        "ValueError: Kernel shape must have the same length as input, but received kernel of "
        "shape (3, 3, 8) and input of shape (None, 28, 28, 3).",
        code="KF601",
        confidence=0.8,
    ),
    Pattern(
        "k3-reshape-total-size",
        r"The total size of the tensor must be unchanged[.,][^\n]{0,200}?Received: "
        rf"input_shape=(?P<found>{SHAPE}), target_shape=(?P<target_shape>{SHAPE})",
        "Keras 3",
        "ValueError: The total size of the tensor must be unchanged. Received: "
        "input_shape=(784,), target_shape=(28, 28, 3)",
        code="KF601",
        confidence=0.85,
    ),
    Pattern(
        "keras2-reshape-total-size",
        r"total size of (?:the )?new array must be unchanged",
        "Keras 2.x, tf.keras 2.x",
        "ValueError: total size of new array must be unchanged, input_shape = [784], "
        "output_shape = [28, 28, 3]",
        code="KF601",
        classify="reshape",
        confidence=0.75,
    ),
    Pattern(
        "tf-cannot-reshape",
        r"Cannot reshape a tensor with (?P<values>\d+) elements to shape "
        r"\[(?P<target_dims>[\d,?\s-]+)\](?P<op>[^\n]{0,300})",
        "TensorFlow 1.x-2.x",
        "InvalidArgumentError: Cannot reshape a tensor with 2352 elements to shape "
        "[32,784] (25088 elements) for '{{node sequential/flatten/Reshape}}'",
        code="KF601",
        classify="reshape",
        confidence=0.6,
    ),
    Pattern(
        "concatenate-shapes",
        r"A `?Concatenate`? layer (?:requires|should be called on) inputs with matching "
        r"shapes except for the concat(?:enation)? axis|\"concat\" mode can only merge layers "
        r"with matching output shapes",
        "Keras 2.x, tf.keras 2.x, Keras 3",
        "ValueError: A `Concatenate` layer requires inputs with matching shapes except for "
        "the concatenation axis. Received: input_shape=[(None, 10, 4), (None, 12, 4)]",
        code="KF601",
        classify="merge",
        confidence=0.85,
    ),
    Pattern(
        "tf-concat-dimension",
        r"Dimension \d+ in both shapes must be equal, but are (?P<a_size>\d+) and "
        r"(?P<b_size>\d+)[^\n]{0,400}?(?:ConcatV2|concat)",
        "TensorFlow 2.x, Keras 3 (running)",
        "InvalidArgumentError: Dimension 1 in both shapes must be equal, but are 15 and 14. "
        "Shapes are [2,15,15] and [2,14,14]. for '{{node functional_1/skip_1/concat}} = "
        "ConcatV2[N=2, T=DT_FLOAT, Tidx=DT_INT32]'",
        code="KF601",
        classify="merge",
        confidence=0.8,
    ),
    Pattern(
        "merge-incompatible",
        rf"Inputs have incompatible shapes\. Received shapes (?P<a>{SHAPE}) and (?P<b>{SHAPE})|"
        rf"Operands could not be broadcast together with shapes (?P<a2>{SHAPE}) ?(?P<b2>{SHAPE})|"
        r"Only layers of same output shape can be merged using \w+ mode",
        "Keras 3, Keras 2.x, tf.keras 2.x",
        "ValueError: Inputs have incompatible shapes. Received shapes (10, 4) and (10, 5)",
        code="KF601",
        classify="merge",
        confidence=0.8,
    ),
    Pattern(
        "dot-axes",
        r"Incompatible input shapes: axis values (?P<a>\d+) \(at axis \d+\) != (?P<b>\d+)|"
        r"Dimension incompatibility using dot (?:product|mode)|Dot incompatible layers can not "
        r"be merged|Cannot do batch_dot on inputs with shapes",
        "Keras 3, Keras 2.x",
        "ValueError: Incompatible input shapes: axis values 4 (at axis 2) != 5 (at axis 2). "
        "Full input shapes: (None, 10, 4), (None, 10, 5)",
        code="KF601",
        confidence=0.8,
    ),
    Pattern(
        "dense-undefined-last-dim",
        r"The last dimension of the inputs to (?:a )?`?Dense`?(?: layer)? should be defined|"
        r"Shapes used to initialize variables must be fully-defined|The shape of the input to "
        r"\"Flatten\" is not fully defined",
        "tf.keras 2.x, Keras 3",
        "ValueError: The last dimension of the inputs to a Dense layer should be defined. "
        "Found None. Full input shape received: (None, None)",
        code="KF601",
        confidence=0.8,
    ),
    Pattern(
        "timedistributed-rank",
        r"`TimeDistributed` Layer should be passed an `input_shape` with at least 3 dimensions",
        "Keras 3",
        "ValueError: `TimeDistributed` Layer should be passed an `input_shape` with at least 3 "
        "dimensions, received: (None, 8)",
        code="KF601",
        confidence=0.85,
    ),
    Pattern(
        "tf-matmul-dimensions",
        r"Dimensions must be equal, but are (?P<a>\d+) and (?P<b>\d+) for "
        r"(?P<op>[^\n]{0,200}?MatMul(?:_\d+)?)|"
        r"Matrix size-incompatible: In\[0\]: \[(?P<rows>\d+),(?P<a2>\d+)\], "
        r"In\[1\]: \[(?P<b2>\d+),",
        "TensorFlow 1.x-2.x",
        "ValueError: Dimensions must be equal, but are 3 and 1 for '{{node "
        "sequential/dense/MatMul}} = MatMul[T=DT_FLOAT](sequential/Cast, "
        "sequential/dense/MatMul/ReadVariableOp)' with input shapes: [?,3], [1,10].",
        code="KF107",
        classify="matmul",
        confidence=0.6,
    ),
    Pattern(
        "tf-op-rank",
        # Not at a bare MatMul: custom code raises that as often as a model does.
        r"Shape must be rank (?P<expected_ndim>\d+) but is rank (?P<found_ndim>\d+) for "
        r"'?(?:\{\{node )?(?!MatMul\b)(?P<layer>[\w/.-]+)",
        "TensorFlow 1.x-2.x",
        "ValueError: Shape must be rank 4 but is rank 3 for 'conv2d/Conv2D' (op: 'Conv2D') with "
        "input shapes: [?,28,28], [3,3,1,32].",
        classify="rank",
        confidence=0.7,
    ),
    Pattern(
        "tf-logits-labels-first-dim",
        r"logits and labels must have the same\s+first dimension, got logits shape "
        r"\[(?P<logits>[\d,]+)\] and labels shape \[(?P<labels>[\d,]+)\]",
        "TensorFlow 2.x, Keras 3",
        "InvalidArgumentError: logits and labels must have the same first dimension, got "
        "logits shape [320,5] and labels shape [32]",
        classify="first_dim",
        confidence=0.8,
    ),
    # --- token ids and labels (KF2xx) ------------------------------------------------------
    Pattern(
        "tf-indices-not-in",
        r"indices\[(?P<position>[\d,]+)\] = (?P<index>-?\d+) is not in \[0, (?P<input_dim>\d+)\)",
        "TensorFlow 1.x-2.x, Keras 3 (CPU)",
        "InvalidArgumentError: Graph execution error: ... indices[3,1] = 12 is not in [0, 10)\n"
        "\t [[{{node sequential/embedding/GatherV2}}]]",
        classify="index",
    ),
    Pattern(
        "tf-embedding-float-ids",
        r"has DataType float\d+ not in list of allowed values: int32, int64",
        "TensorFlow 1.x-2.x",
        "TypeError: Value passed to parameter 'indices' has DataType float32 not in list of "
        "allowed values: int32, int64",
        code="KF203",
        confidence=0.7,
    ),
    Pattern(
        "tf-label-value",
        r"Received a label value of (?P<label>-?\d+) which is outside the valid range of "
        r"\[0, (?P<units>\d+)\)",
        "TensorFlow 2.x, Keras 3 (CPU)",
        "InvalidArgumentError: Received a label value of 12 which is outside the valid range "
        "of [0, 10).  Label values: 12 12 3 4",
        classify="label",
    ),
    Pattern(
        "k3-sparse-rank",
        r"Argument `output` must have rank \(ndim\) `target\.ndim - 1`\. Received: "
        rf"target\.shape=(?P<target>{SHAPE}), output\.shape=(?P<output>{SHAPE})",
        "Keras 3",
        "ValueError: Argument `output` must have rank (ndim) `target.ndim - 1`. Received: "
        "target.shape=(None, 10), output.shape=(None, 10)",
        code="KF213",
    ),
    Pattern(
        "tf-squeeze-dim",
        r"Can not squeeze dim\[1\], expected a dimension of 1, got (?P<units>\d+)",
        "tf.keras 2.x",
        "InvalidArgumentError: Can not squeeze dim[1], expected a dimension of 1, got 10",
        code="KF213",
        confidence=0.8,
    ),
    Pattern(
        "k3-target-output",
        r"Arguments `target` and `output` must have the same (?:rank \(ndim\)|shape)\. "
        rf"Received: target\.shape=(?P<target>{SHAPE}), output\.shape=(?P<output>{SHAPE})",
        "Keras 3",
        "ValueError: Arguments `target` and `output` must have the same rank (ndim). "
        "Received: target.shape=(None,), output.shape=(None, 10)",
        classify="target",
    ),
    Pattern(
        "tf-shapes-incompatible",
        # A batch axis first (None or ?): weight-loading errors print two weight shapes.
        r"Shapes (?P<target>\((?:None|\?)[^()]*\)) and (?P<output>\((?:None|\?)[^()]*\)) "
        r"are incompatible",
        "tf.keras 2.x",
        "ValueError: Shapes (None, 1) and (None, 10) are incompatible",
        classify="target",
        confidence=0.8,
    ),
    Pattern(
        "tf-logits-labels",
        rf"`logits` and `labels` must have the same shape, received \((?P<output>{SHAPE}) vs "
        rf"(?P<target>{SHAPE})\)",
        "tf.keras 2.x",
        "ValueError: `logits` and `labels` must have the same shape, received ((32, 5) vs "
        "(32, 1)).",
        classify="target",
    ),
    Pattern(
        "keras2-target-categorical",
        rf"You are passing a target array of shape (?P<target>{SHAPE}) while using as loss "
        r"`categorical_crossentropy`",
        "Keras 2.0-2.3",
        "ValueError: You are passing a target array of shape (100, 1) while using as loss "
        "`categorical_crossentropy`. `categorical_crossentropy` expects targets to be binary "
        "matrices (1s and 0s) of shape (samples, classes).",
        code="KF214",
    ),
    Pattern(
        "keras2-target-array",
        rf"A target array with shape (?P<target>{SHAPE}) was passed for an output of shape "
        rf"(?P<output>{SHAPE}) while using as loss",
        "Keras 2.0-2.3",
        "ValueError: A target array with shape (100, 1) was passed for an output of shape "
        "(None, 4) while using as loss `categorical_crossentropy`.",
        classify="target",
    ),
    Pattern(
        "keras2-checking-target",
        rf"Error when checking target: expected (?P<layer>\w+) to have shape "
        rf"(?P<output>{SHAPE}) but got array with shape (?P<target>{SHAPE})",
        "Keras 2.0-2.3",
        "ValueError: Error when checking target: expected dense_2 to have shape (None, 10) "
        "but got array with shape (60000, 1)",
        classify="target",
    ),
    Pattern(
        "np-string-to-float",
        r"could not convert string to float: '(?P<value>[^']*)'",
        "NumPy (any Keras)",
        "ValueError: could not convert string to float: 'n/a'",
        code="KF222",
        confidence=0.8,
    ),
    Pattern(
        "tf-unsupported-object",
        r"Failed to convert a NumPy array to a Tensor \(Unsupported object type (?P<type>\w+)\)",
        "tf.keras 2.x",
        "ValueError: Failed to convert a NumPy array to a Tensor (Unsupported object type list).",
        classify="object",
    ),
    Pattern(
        "k3-invalid-dtype",
        r"Invalid dtype: (?P<dtype>object|str\d*|bytes\d*|<U\d+|\|S\d+)",
        "Keras 3",
        "ValueError: Invalid dtype: str96",
        classify="dtype",
    ),
    # --- sample counts and batches (KF3xx) -------------------------------------------------
    Pattern(
        "k3-cardinality",
        r"Data cardinality is ambiguous\.[\s\S]{0,300}?'x' sizes: (?P<x_sizes>[\d, ]+)"
        r"[\s\S]{0,300}?'y' sizes: (?P<y_sizes>[\d, ]+)",
        "Keras 3",
        "ValueError: Data cardinality is ambiguous. Make sure all arrays contain the same "
        "number of samples.'x' sizes: 8\n'y' sizes: 6\n",
        code="KF301",
    ),
    Pattern(
        "tf-cardinality",
        r"Data cardinality is ambiguous:\s*x sizes: (?P<x_sizes>[\d, ]+)\s*y sizes: "
        r"(?P<y_sizes>[\d, ]+)",
        "tf.keras 2.x",
        "ValueError: Data cardinality is ambiguous:\n  x sizes: 30000\n  y sizes: 50000\n"
        "Make sure all arrays contain the same number of samples.",
        code="KF301",
    ),
    Pattern(
        "keras2-first-dimension",
        r"Please provide data which shares the same first dimension",
        "Keras 2.x",
        "ValueError: Input arrays should have the same number of samples as target arrays. "
        "Please provide data which shares the same first dimension.",
        code="KF301",
        confidence=0.8,
    ),
    Pattern(
        "k3-stateful-batch",
        r"If an RNN is stateful, the batch size of the input sequences must be the same as "
        r"the batch size of the initial state\.\s*- Expected batch size: (?P<batch_size>\d+)"
        r"\s*- Received batch size: (?P<received>\d+)",
        "Keras 3",
        "ValueError: If an RNN is stateful, the batch size of the input sequences must be the "
        "same as the batch size of the initial state. \n- Expected batch size: 4\n- Received "
        "batch size: 2",
        code="KF302",
    ),
    Pattern(
        "keras2-stateful-divisible",
        r"In a stateful network, you should only pass inputs with a number of samples that "
        r"can be divided by the batch size",
        "Keras 2.1",
        "ValueError: In a stateful network, you should only pass inputs with a number of "
        "samples that can be divided by the batch size. Found: 10 samples",
        code="KF302",
    ),
    Pattern(
        "tf-incompatible-batch",
        r"Incompatible shapes: \[(?P<received>\d+),(?P<rest_a>[\d,]*)\] vs\. "
        r"\[(?P<batch_size>\d+),(?P<rest_b>[\d,]*)\]",
        "Keras 3 / TF 2.x (BroadcastGradientArgs, a partial last batch)",
        "InvalidArgumentError: Incompatible shapes: [2,16] vs. [4,16]\n\t [[{{node "
        "gradient_tape/sequential/lstm/BroadcastGradientArgs}}]]",
        classify="batch",
        confidence=0.6,
        # Other ops print the same words; a partial batch shows up in the gradient.
        context=r"BroadcastGradientArgs|gradient_tape|stateful",
    ),
    # --- variable-length sequences (KF4xx) -------------------------------------------------
    Pattern(
        "k3-unrecognized-list",
        r"Unrecognized data type: x=\[\[",
        "Keras 3",
        "ValueError: Unrecognized data type: x=[[1, 2, 3], [1, 2]] (of type <class 'list'>)",
        code="KF401",
    ),
    Pattern(
        "tf-non-rectangular",
        r"Can't convert non-rectangular Python sequence to Tensor",
        "tf.keras 2.x",
        "ValueError: Can't convert non-rectangular Python sequence to Tensor.",
        code="KF401",
    ),
    Pattern(
        "np-ragged-nested",
        r"Creating an ndarray from ragged nested sequences",
        "NumPy 1.19-1.23",
        "VisibleDeprecationWarning: Creating an ndarray from ragged nested sequences (which "
        "is a list-or-tuple of lists-or-tuples-or ndarrays with different lengths or shapes) "
        "is deprecated.",
        code="KF401",
    ),
    Pattern(
        "np-inhomogeneous",
        r"setting an array element with a sequence\. The requested array has an inhomogeneous "
        r"shape after (?P<dims>\d+) dimensions",
        "NumPy 1.24+",
        "ValueError: setting an array element with a sequence. The requested array has an "
        "inhomogeneous shape after 1 dimensions. The detected shape was (3,) + inhomogeneous "
        "part.",
        code="KF401",
    ),
    Pattern(
        "tf-data-batch-shapes",
        r"Cannot batch tensors with different shapes in component (?P<component>\d+)\. First "
        r"element had shape \[(?P<first>[\d,]*)\] and element (?P<element>\d+) had shape "
        r"\[(?P<other>[\d,]*)\]",
        "TensorFlow 2.x (tf.data)",
        "InvalidArgumentError: Cannot batch tensors with different shapes in component 0. "
        "First element had shape [2,3] and element 1 had shape [3,3].",
        code="KF401",
        confidence=0.7,
    ),
    # --- the model (KF0xx, KF6xx) ----------------------------------------------------------
    Pattern(
        "k3-lambda-safe-mode",
        r"Requested the deserialization of a `?Lambda`? layer|"
        r"arbitrary code execution[\s\S]{0,400}?safe_mode",
        "Keras 3",
        "ValueError: Requested the deserialization of a `Lambda` layer whose `function` is a "
        "Python lambda. This carries a potential risk of arbitrary code execution and thus it "
        "is disallowed by default. If you trust the source of the artifact, you can override "
        "this error by passing `safe_mode=False` to the loading function, or calling "
        "`keras.config.enable_unsafe_deserialization().",
        code="KF003",
    ),
    Pattern(
        "unknown-layer",
        r"Unknown layer: '?(?P<class_name>\w+)'?|Could not locate class '(?P<class>\w+)'",
        "tf.keras 2.x, Keras 3",
        "TypeError: Could not locate class 'ScaleLayer'. Make sure custom classes are "
        "decorated with `@keras.saving.register_keras_serializable()`.",
        code="KF003",
        confidence=0.8,
    ),
)
