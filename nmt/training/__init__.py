"""Training a model directory: the loop, its compiled steps, checkpoints, distribution."""
