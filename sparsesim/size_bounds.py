"""The memory bounds on a topology's layers (no imports: the CLI reads them for its help without numpy).

``DEFAULT_MAX_EXACT_WEIGHTS``: weights drawn as exact (M, K) float32 matrices with their masks, M x K summed
over those layers of one file (about 5 bytes held per weight, ~21 while a layer is drawn); user-set with
``--max-exact-weights`` / ``max_exact_weights=``; the largest layers beyond it are priced from counts
(``sparsesim.pattern``).  ``MAX_TOTAL_WEIGHTS``: the ceiling of one file in every mode (an LLM's 10^10).
"""

DEFAULT_MAX_EXACT_WEIGHTS = 1 << 26
MAX_TOTAL_WEIGHTS = 10 ** 10
MAX_EXACT_OPTION = "--max-exact-weights (API: max_exact_weights=)"
