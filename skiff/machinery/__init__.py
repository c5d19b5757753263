"""skiff/machinery."""
