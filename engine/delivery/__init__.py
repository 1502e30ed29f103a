"""Delivery: the queue, the workers' delivery service, retries, ordering, dependencies, breaker, rate
limits, the sweeper and the sync log, and the :class:`Destination` interface connectors implement."""
