"""The tribunal of a case: the panel, selection, appointment, disclosure and challenge."""
