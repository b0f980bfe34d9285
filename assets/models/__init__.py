"""models: the checkpoint every model stage starts from."""
