"""Evidence and contract custody: uploads, inspection, content-addressed storage, exhibits."""
