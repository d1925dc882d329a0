"""The embedded demo world: synthetic data in the real formats (`data`) and tiny models of every family (`models`)."""
