"""The message store: every inbound unit kept exactly as received, and the queries operators run on it."""
