"""People and their roles: users, memberships, powers of attorney, alliance admins."""
