"""The process seam: the only package that starts processes (locally or over SSH), and the tools it knows."""
