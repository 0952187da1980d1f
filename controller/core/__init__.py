"""The controller's bottom layer: the instrument interface and its value types (SI units)."""
