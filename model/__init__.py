"""Word-level RNN, LSTM and GRU language models: definition, checkpoints, training.

Imports flow one way: data/ -> model/ -> the CLIs and app.py. Nothing here imports streamlit.
"""
