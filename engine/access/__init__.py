"""Access: who may call the engine (API clients with SMART scopes, users with roles), the tokens
they hold, and the audit trail of every PHI access."""
