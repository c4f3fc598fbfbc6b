"""Lender batches: a claims file of tens of thousands of rows, turned into cases in bulk."""
