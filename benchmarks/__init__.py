"""`make bench`: speed against PyTorch, explorer latency and notebook times, measured side by side."""
