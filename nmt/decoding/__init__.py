"""From a trained model to text: search, the translator, evaluation and SavedModel export."""
