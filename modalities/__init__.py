"""Modality adapters: image, text and tabular, each with its own masker and picture."""
