"""Explaining trained language models: traces, word influence, gradient flow, the distance ladder.

One analysis per file. Everything here works on any checkpoint (rnn, lstm, gru)
and any typed text, never writes ``.grad`` into parameters, never switches a
model to train mode and leaves no hooks behind, so a shared (cached) model can
be analysed from several threads at once. Nothing here imports streamlit.
"""
