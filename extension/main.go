// Command gameday-chaos is the fault-injection Lambda extension of chaos-gameday: an
// external extension running a Runtime API proxy (started by Lambda from
// /opt/extensions/gameday-chaos), and the check of the exec wrapper
// (/opt/gameday-chaos-wrapper runs `gameday-chaos probe` before it starts the runtime).
//
// Standard library only; built static (CGO_ENABLED=0) for linux/amd64 and linux/arm64.
package main

import (
	"fmt"
	"os"
	"runtime"
)

// version is the config schema version this build reads (and the newest it knows).
const version = "gameday-chaos (config versions 1-2)"

func main() {
	log := &Logger{out: os.Stderr}
	args := os.Args
	if len(args) > 1 {
		switch args[1] {
		case "probe":
			os.Exit(runProbe(os.Getenv, os.Stdout, os.Stderr))
		case "vectors":
			if err := runVectors(os.Stdin, os.Stdout); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			return
		case "version":
			fmt.Println(version)
			return
		}
	}
	if os.Getenv("GOMAXPROCS") == "" {
		// The proxy's work per invocation is microseconds: one scheduler thread avoids
		// hand-offs between threads and spinning threads that would take CPU from the
		// function (small functions get a fraction of a vCPU). Concurrent invocations still
		// run side by side as goroutines.
		runtime.GOMAXPROCS(1)
	}
	os.Exit(runExtension(os.Getenv, args[0], log))
}
