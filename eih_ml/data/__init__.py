"""Loading, validating, mapping and simulating cohorts (the data contract and its checks)."""
