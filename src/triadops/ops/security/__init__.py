"""Security as a feature: the audits' findings followed by alerts."""
