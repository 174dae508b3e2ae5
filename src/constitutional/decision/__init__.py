"""Decide from the constitution's text whether a request is declined, and why."""

from constitutional.decision.classifier import ConstitutionClassifier, Decision, classifier_for, training_data

__all__ = ["ConstitutionClassifier", "Decision", "classifier_for", "training_data"]
