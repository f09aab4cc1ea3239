"""learn2ask.targets stage."""
