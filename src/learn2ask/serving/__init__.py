"""learn2ask.serving stage."""
