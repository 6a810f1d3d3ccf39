"""usage-tui: a keyboard-driven terminal cost explorer for attributed AI usage."""
