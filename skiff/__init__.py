"""skiff."""
