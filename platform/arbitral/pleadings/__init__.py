"""Pleadings: the respondent's answer, the answer/counterclaim/evidence periods, default."""
