"""Health: collectors, thresholds, scores and stored reports."""
