"""What every layer of Carebridge uses and that knows nothing of its stations: YAML files with line
numbers, settled-edit detection, the decimal-safe JSON codec, code traces, periodic tasks, the root error."""
