"""Per-component knowledge below the stages.

MetalLB, Argo CD, Sealed Secrets and the sandbox repository: what the stages and commands share
about each, so that no stage imports another.
"""
