"""The asset graph: prices -> features -> model checkpoints -> predictions."""
