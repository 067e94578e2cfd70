"""Running the dashboard as a fleet: redis-server + N replicas + haproxy (``make cluster``)."""
