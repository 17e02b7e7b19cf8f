package handler

import "time"

// SetClock makes fn read the current time from now, for tests of the times it reports.
func SetClock(fn *Function, now func() time.Time) { fn.now = now }
