"""Arbitral: a multi-tenant online arbitration cloud platform."""

__version__ = "0.1.0"
