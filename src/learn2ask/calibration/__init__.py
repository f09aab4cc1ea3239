"""learn2ask.calibration stage."""
