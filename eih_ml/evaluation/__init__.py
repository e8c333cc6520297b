"""Model evaluation: metrics, calibration, bootstrap, nested and external validation."""
