"""Hearings: documents only, asynchronous rounds, video sessions; then deliberation."""
