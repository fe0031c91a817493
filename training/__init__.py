"""Training: one model per hardship type, validated over time, calibrated, audited, registered."""
