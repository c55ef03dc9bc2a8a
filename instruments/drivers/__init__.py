"""One module per instrument model, each implementing a role of `instruments.roles`."""
