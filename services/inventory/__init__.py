"""inventory: owns stock. Lists products and reserves stock atomically over HTTP; knows nobody downstream."""
