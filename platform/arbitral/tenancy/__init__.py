"""Arbitration commissions as tenants: their definitions, revisions and resolution."""
