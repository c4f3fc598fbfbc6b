"""Signed webhooks to API clients (lenders): endpoints, events, deliveries, a stand-in receiver."""
