"""nodeagent/network."""
