"""The long-range lab: S seeds of an RNN and an LSTM trained as one batched computation on a cue-and-answer task, and its measured claim."""
