package configs

// AlarmConds lists the alarm conditions a point has, in SPEC §6 spelling:
// the limits it sets (hihi hi lo lolo), roc when roc > 0, on for a discrete
// point with alarm_on, fault when it has a range, and comm and stale always.
func AlarmConds(d Device, p Point) []string {
	var c []string
	if p.HiHi != nil {
		c = append(c, "hihi")
	}
	if p.Hi != nil {
		c = append(c, "hi")
	}
	if p.Lo != nil {
		c = append(c, "lo")
	}
	if p.LoLo != nil {
		c = append(c, "lolo")
	}
	if p.ROC > 0 {
		c = append(c, "roc")
	}
	if p.AlarmOn != nil {
		c = append(c, "on")
	}
	if len(p.Range) == 2 {
		c = append(c, "fault")
	}
	return append(c, "comm", "stale")
}
