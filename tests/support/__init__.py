"""Helpers shared by the test suite (servers started by the tests, fixtures' plumbing)."""
