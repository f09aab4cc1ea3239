"""learn2ask.training stage."""
