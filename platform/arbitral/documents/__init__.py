"""Formal documents (awards, consent awards, mediation statements, notices) rendered to PDF.

``model`` holds the documents as typed data (pure), ``typography`` how amounts
and dates are written, ``render`` the templates and WeasyPrint; signing and
verification sit beside them.
"""
