"""learn2ask.evaluation stage."""
