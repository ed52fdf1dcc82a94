"""Evaluation: perplexity, minimal-pair scoring, the pronoun and agreement suites, effective context."""
