"""The bottom layer: configuration, run directories and records, errors,
console output, YAML with line numbers, seeding. Imports nothing else of
the package."""
