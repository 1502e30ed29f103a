"""What operators do and see: the overview, dead letters, replay, resync, patient look-up, sync-log
queries and metrics. Each action re-enters the line at a station."""
