"""Refusals: the benchmark refusal patterns (``patterns``) and the measured
comply / partial / refuse classifier built on them (``classifier``)."""

from constitutional.refusal.classifier import CLASSES, RefusalCheck, RefusalClassifier, default_classifier, looks_like_refusal
from constitutional.refusal.patterns import content_words, reoffers

__all__ = ["CLASSES", "RefusalCheck", "RefusalClassifier", "content_words", "default_classifier",
           "looks_like_refusal", "reoffers"]
