package configs

import (
	"path/filepath"
	"strings"
)

// Console presentation keys (docs/CONFIG.md "Console"): a point's
// `states`, `decimals`, `fire` and `plan`, and `console.plan`.

// maxDecimals bounds `decimals`: a gas detector resolves far less.
const maxDecimals = 6

// presentation checks one point's console keys.
func (v *validator) presentation(p string, pt *Point) {
	if pt.States != nil && len(pt.States) != 2 {
		v.errorf(p+".states", "states takes two texts, for 0 and for 1 (got %d)", len(pt.States))
	}
	if pt.Decimals != nil && (*pt.Decimals < 0 || *pt.Decimals > maxDecimals) {
		v.errorf(p+".decimals", "decimals %d must be within 0..%d", *pt.Decimals, maxDecimals)
	}
	if pt.Plan != nil {
		if len(pt.Plan) != 2 {
			v.errorf(p+".plan", "plan is [x, y] (got %d numbers)", len(pt.Plan))
			return
		}
		for _, f := range pt.Plan {
			if !v.finite(p+".plan", f) || f < 0 || f > 1 {
				v.errorf(p+".plan", "plan [x, y] are fractions of the plan's width and height, within 0..1 (got %g)", f)
				return
			}
		}
	}
}

// plan checks console.plan and that points are placed only when there is
// a plan to place them on.
func (v *validator) plan(c *Config) {
	if c.Console.Plan == "" {
		for i := range c.Devices {
			for j := range c.Devices[i].Points {
				if c.Devices[i].Points[j].Plan != nil {
					v.errorf(idx(idx("device", i)+".point", j)+".plan", "plan places a point on console.plan: set console.plan too")
					return
				}
			}
		}
		return
	}
	switch strings.ToLower(filepath.Ext(c.Console.Plan)) {
	case ".svg", ".png":
	default:
		v.errorf("console.plan", "the site plan must be an .svg or .png file (got %q)", c.Console.Plan)
	}
}

// PlanPath is console.plan resolved against the config file's directory.
func (c *Config) PlanPath() string {
	p := c.Console.Plan
	if p == "" || filepath.IsAbs(p) || c.File == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.File), p)
}
