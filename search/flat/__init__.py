"""The flat search over the whole design space and the comparison of search strategies."""
