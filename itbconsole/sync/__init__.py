"""A clinic with several rooms: each room syncs its records to the clinic's PostgreSQL server."""
