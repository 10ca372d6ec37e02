"""`python -m tools.names` (make names): every place the project's name and its services' names are written,
grouped by what each one is, so that a fork can rename them all (see docs/template.md)."""
