"""The sample repository published as a local git repository, with its secrets sealed to the cluster's key."""
