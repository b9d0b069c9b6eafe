"""The sparsity structure kinds, torch-free: ``pruning.structures`` builds them (torch); the artifact reader
(``pruning.artifact_read``) validates a manifest's ``sparsity.type`` against them without importing torch."""

KINDS = ("dense", "nonstructured", "filter", "channel", "column", "block", "nm")
