"""Reading corpora, tokenizing and batching: text in, padded id batches out."""
