"""Messages to people (SMS, email), through a delivery outbox."""
