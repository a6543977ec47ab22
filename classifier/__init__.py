"""Dragnet's classifier: the fine-tuned transformer, its training and evaluation, calibration,
the batched inference engine and the rule-based extractors that explain each verdict."""
