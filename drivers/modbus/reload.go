package modbus

import (
	"crypto/sha256"
	"fmt"
	"io"

	"hazardgw/configs"
)

// Reload makes the driver poll the modbus devices of cfg (SPEC §12). A bus
// whose devices did not change (same transport and address, same devices
// with the same settings and points as compiled) keeps running: its devices
// poll without a gap. Every other bus is stopped (its transport closed)
// before the new buses start, so a serial line is free for its successor.
// A point's alarm settings (limits, delays, priority) are not the driver's:
// changing them keeps the bus. Devices sharing a bus share its fate: a
// changed device restarts the other devices on its line.
//
// On error (cfg does not build) nothing changed. Reload may be called
// before, during or after Run.
func (drv *Driver) Reload(cfg *configs.Config) error {
	nd, err := build(cfg, drv.opts, drv.log, drv.m)
	if err != nil {
		return err
	}
	drv.mu.Lock()
	defer drv.mu.Unlock()
	old := map[string]*bus{}
	for _, b := range drv.buses {
		old[b.name] = b
	}
	kept := map[*bus]bool{}
	keptDev := map[*device]*device{} // new -> the running one that stays
	for i, nb := range nd.buses {
		ob := old[nb.name]
		if ob == nil || ob.sig != nb.sig {
			continue
		}
		// The same bus: keep the running one and its devices (their
		// health, schedule and connection).
		kept[ob] = true
		nd.buses[i] = ob
		for j, d := range nb.devices {
			od := ob.devices[j]
			nd.byDev[d.id] = od
			keptDev[d] = od
		}
	}
	// A kept device has the same ids in the same plan order as the one it
	// stands for (their signatures are equal), so nd.points and nd.first,
	// which number points by their device's place in nd.devs, stay right.
	for i, d := range nd.devs {
		if od := keptDev[d]; od != nil {
			nd.devs[i] = od
		}
	}
	var stopped []*bus
	for _, b := range drv.buses {
		if !kept[b] {
			stopped = append(stopped, b)
			if b.stop != nil {
				b.stop()
			}
		}
	}
	if drv.run {
		for _, b := range stopped {
			<-b.done
		}
	}
	drv.buses, drv.devs, drv.byDev, drv.points, drv.first = nd.buses, nd.devs, nd.byDev, nd.points, nd.first
	started := 0
	if drv.run && drv.ctx.Err() == nil {
		for _, b := range drv.buses {
			if !kept[b] {
				drv.start(b)
				started++
			}
		}
	}
	drv.log.Info("modbus reloaded", "buses", len(drv.buses), "kept", len(kept), "restarted", started, "stopped", len(stopped))
	return nil
}

// deviceSig is what a device polls, as Reload compares it, hashed: its
// settings, its shape's key (every point as compiled, in config order, see
// shaper.shape) and its point ids.
func deviceSig(cd *configs.Device, d *device, shapeKey []byte) [32]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s %s unit=%d interval=%s timeout=%s comm_after=%d serial=%d/%d/%s/%d gap=%d;",
		cd.Transport, cd.Address, d.unit, d.interval, d.timeout, d.commAfter,
		cd.Baud, cd.DataBits, cd.Parity, cd.StopBits, *cd.Gap)
	fmt.Fprintf(h, "%d:", len(shapeKey))
	h.Write(shapeKey)
	for _, id := range d.ids {
		io.WriteString(h, string(id))
		h.Write([]byte{0})
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}
