"""Routing: which destinations each written resource goes to, recorded as outbox rows."""
