"""News-article text-classification pipeline."""
