"""usage-tui: a keyboard-driven terminal cost explorer for attributed AI usage.

Section marks in this package's comments and docstrings (`§2.3`, `architecture §2.4`) refer to
docs/architecture.md, the design kept true with the code."""
