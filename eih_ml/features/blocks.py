"""The feature-block names the config reads: which blocks an added-value comparison may name.

This is the feature-block registry's vocabulary.

Kept free of numpy and pandas so that :mod:`eih_ml.config` builds its types from it; the columns
of every block are :data:`eih_ml.features.derive.BLOCKS`.
"""

from __future__ import annotations

from typing import Literal, get_args

#: A block whose added value ``evaluation.added_value`` may ask for (the model without the
#: block's features against the model with them, on the same folds); every one is a key of
#: :data:`eih_ml.features.derive.BLOCKS`. In the order the config's error message lists them.
AddedValueBlock = Literal[
    "biomarker", "psychological", "qst", "clinical", "protocol", "programme", "acute_eih"
]
#: The blocks of :data:`AddedValueBlock`, as a tuple.
ADDED_VALUE_BLOCKS: tuple[str, ...] = get_args(AddedValueBlock)
