"""skiff/api."""
