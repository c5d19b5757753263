"""skiff/cli."""
