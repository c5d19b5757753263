"""skiff/client."""
