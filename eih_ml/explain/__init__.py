"""Explanations and uncertainty: SHAP attributions, conformal intervals, abstention, what-if."""
