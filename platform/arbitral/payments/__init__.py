"""Fees and payment: invoices from the rule set, a payment provider, refunds."""
