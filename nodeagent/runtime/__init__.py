"""nodeagent/runtime."""
