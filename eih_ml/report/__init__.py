"""The experiment report and the patient report: sections, figures and formatting."""
