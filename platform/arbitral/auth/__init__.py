"""Authentication and authorisation: sessions, logins, API clients, tokens, permissions."""
