"""Awards: drafting from the case, the tribunal's votes, issue as a signed document, corrections."""
