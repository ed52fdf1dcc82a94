"""The model itself: its config, the network, checkpoints (safetensors + JSON), resumable training state, weight storage, generation, process tuning."""
