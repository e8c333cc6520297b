"""Feature derivation from QST, questionnaires, biomarkers, protocol and programme data."""
