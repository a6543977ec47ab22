"""Dragnet's classifier: the fine-tuned transformer, its training and evaluation, calibration,
the batched inference engine and the rule evidence that explains each verdict."""
