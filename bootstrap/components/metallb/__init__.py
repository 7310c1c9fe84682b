"""MetalLB: the address pool for a target, and its controller as a local process."""
