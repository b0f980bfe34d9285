"""train: the SFT model (action-masked) and the RL model (outcome / process rewards)."""
