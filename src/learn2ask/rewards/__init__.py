"""learn2ask.rewards stage."""
