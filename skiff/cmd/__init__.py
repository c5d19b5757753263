"""skiff/cmd."""
