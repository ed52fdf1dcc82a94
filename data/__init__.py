"""Corpus loading, word-level tokenization and batching for Memory Lab.

Nothing in this package imports torch's training code or streamlit: it turns
text into ids and ids into batches.
"""
