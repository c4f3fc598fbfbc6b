"""Alliance rule sets as versioned data: claim forms, fees, time limits, calendars, loans."""
