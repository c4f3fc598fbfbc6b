"""Service of process (送达): notices served on parties through a ladder of channels."""
