"""The process seam: the only package that starts processes (locally or over SSH).

Also the catalogue of outside tools it runs, with their versions and install hints.
"""
