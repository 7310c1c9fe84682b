"""Per-component knowledge below the stages: MetalLB, Argo CD, Sealed Secrets, the sandbox repository."""
