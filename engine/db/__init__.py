"""The database station: records, connections for both run modes, and schema migrations."""
