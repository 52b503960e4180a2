package mqtttest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"hazardgw/internal/testenv"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

var installOnce sync.Once
var installErr error

// mosquittoPath returns the mosquitto binary, installing the Debian package
// when it is missing (the tests run as root). It never skips.
func mosquittoPath() (string, error) {
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	installOnce.Do(func() {
		out, err := exec.Command("apt-get", "install", "-y", "mosquitto").CombinedOutput()
		if err != nil {
			out2, err2 := exec.Command("sh", "-c", "apt-get update && apt-get install -y mosquitto").CombinedOutput()
			if err2 != nil {
				installErr = fmt.Errorf("apt-get install -y mosquitto: %v\n%s\n%s", err2, out, out2)
			}
		}
	})
	if installErr != nil {
		return "", installErr
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto", nil
	}
	return "", fmt.Errorf("mosquitto not found after installing it")
}

// MosquittoOptions configures StartMosquittoWith.
type MosquittoOptions struct {
	// CAFile, CertFile, KeyFile make the listener speak TLS (URL is ssl://).
	CAFile, CertFile, KeyFile string
	// Extra lines appended to the generated mosquitto.conf.
	Extra []string
}

// StartMosquitto runs /usr/sbin/mosquitto (installed with apt-get when
// missing) with a generated config on a random loopback port, anonymous
// access allowed, no persistence.
func StartMosquitto(t testing.TB) *Broker { return StartMosquittoWith(t, MosquittoOptions{}) }

// StartMosquittoWith runs Mosquitto with the given options.
func StartMosquittoWith(t testing.TB, o MosquittoOptions) *Broker {
	t.Helper()
	bin, err := mosquittoPath()
	if err != nil {
		t.Fatalf("mqtttest: mosquitto unavailable: %v", err)
	}
	addr := testenv.FreeAddr(t)
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	dir := t.TempDir()
	conf := []string{
		"listener " + port + " 127.0.0.1",
		"allow_anonymous true",
		"persistence false",
		"log_dest stderr",
		"log_type error",
		"log_type warning",
		"max_queued_messages 100000",
		"user root",
	}
	scheme := "tcp"
	if o.CertFile != "" {
		scheme = "ssl"
		conf = append(conf, "cafile "+o.CAFile, "certfile "+o.CertFile, "keyfile "+o.KeyFile)
	}
	conf = append(conf, o.Extra...)
	confPath := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confPath, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		t.Fatalf("mqtttest: %v", err)
	}
	var (
		cmd  *exec.Cmd
		done chan struct{}
		logb = &testenv.Buffer{Limit: 1 << 16}
	)
	b := &Broker{URL: scheme + "://" + addr, Addr: addr, t: t}
	b.start = func() error {
		cmd = exec.Command(bin, "-c", confPath)
		cmd.Stdout, cmd.Stderr = logb, logb
		if err := cmd.Start(); err != nil {
			return err
		}
		done = make(chan struct{})
		go func(c *exec.Cmd, d chan struct{}) { _ = c.Wait(); close(d) }(cmd, done)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		select {
		case <-done:
			return fmt.Errorf("mosquitto exited at start: %s", logb.String())
		default:
		}
		if err := waitListening(ctx, addr); err != nil {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("%w; mosquitto log: %s", err, logb.String())
		}
		return nil
	}
	b.stop = func() {
		_ = cmd.Process.Kill()
		<-done
	}
	b.Start()
	t.Cleanup(b.Stop)
	return b
}
